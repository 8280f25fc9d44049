"""The feature store: one object over the offline store, the views and an online store.

    from labs.feature_store import FeatureStore
    store = FeatureStore("data/my_store", online="sqlite")
    store.ingest(load("tiny").impressions)                     # m1
    store.ingest_items(load("tiny").items)                      # item categories
    store.compute_views()                                       # m2
    train = store.get_historical_features(entity_df, ["user_activity:clicks_1h"])  # m3
    store.materialize_incremental(end)                          # m4
    store.get_online_features({"user_id": [1, 2]}, ["user_activity:clicks_1h"])    # m5

A store is a folder; the facade below checks arguments and hands each job
to the module that owns it::

    <root>/registry.json            what is stored, computed, materialised  registry.py
    <root>/offline/impressions/...  validated events, Parquet by date (m1)   offline.py
    <root>/offline/quarantine/...   rejected events with their reason (m1)   offline.py
    <root>/offline/items.parquet    each item's category, derived keys       keys.py
    <root>/features/<view>.parquet  feature rows of each view (m2)           feature_files.py
    <root>/online.db                the SQLite online store, if chosen (m4)  online_sqlite.py

In memory: each view's as-of index for the point-in-time join (m3,
``index_cache.py``, ``pit_join.py``; the rows read by ``feature_rows.py``,
the keys numbered by ``key_codes.py``) and the watermarks of a memory online
store (``watermarks.py``). Materialisation is ``materialize.py`` (m4), online
reads ``online_read.py`` (m5); every file is written by ``atomic_write.py``,
whole or not at all, together with the registry entry that records it.

Timestamps follow one rule (``schema.py``): timezone-aware in, UTC inside;
naive timestamps raise ``ValueError`` saying how to localise them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labs.feature_store.atomic_write import StagedFiles
from labs.feature_store.feature_files import (
    compute_feature_files,
    entity_ids,
    feature_path,
)
from labs.feature_store.historical_read import check_request, join_features
from labs.feature_store.index_cache import IndexCache
from labs.feature_store.keys import ItemCategories, ItemsFile, with_keys
from labs.feature_store.materialize import MaterializeReport, materialize_views
from labs.feature_store.offline import IngestReport, OfflineStore
from labs.feature_store.online_read import assemble, read_view, request_keys
from labs.feature_store.online_request import OnlineFeatures, key_columns
from labs.feature_store.online_store import OnlineStore, open_online_store
from labs.feature_store.pit_join import AsOfIndex, JoinSpec, SplitIndex
from labs.feature_store.registry import Registry
from labs.feature_store.schema import instant_us
from labs.feature_store.views import (
    FeatureView,
    declared_defaults,
    default_views,
    fingerprint,
    parse_refs,
)
from labs.feature_store.watermarks import Watermarks

log = logging.getLogger(__name__)


class FeatureStore:
    """Offline store, feature views, point-in-time joins and an online store.

    Args:
        root: the store's folder (created if missing).
        views: the feature views; ``default_views()`` when omitted.
        online: ``"sqlite"`` (default; ``<root>/online.db``), ``"redis"``
            (pass ``url=``), ``"memory"``, or an :class:`OnlineStore`.
        clock: returns "now" (timezone-aware); stamps computed feature rows
            and is the online TTL's "now" for views never materialised.
        **online_options: passed to :func:`open_online_store`.
    """

    def __init__(
        self,
        root: str | Path,
        views: Sequence[FeatureView] | None = None,
        online: str | OnlineStore = "sqlite",
        clock: Callable[[], dt.datetime] | None = None,
        **online_options: Any,
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        chosen = list(views) if views is not None else default_views()
        self.views: dict[str, FeatureView] = {v.name: v for v in chosen}
        if len(self.views) != len(chosen):
            raise ValueError(f"view names repeat: {[v.name for v in chosen]}.")
        self.offline = OfflineStore(self.root / "offline")
        self.registry = Registry(self.root / "registry.json")
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        if isinstance(online, OnlineStore):
            self.online = online
        else:
            if online == "sqlite":
                online_options.setdefault("path", self.root / "online.db")
            self.online = open_online_store(online, **online_options)  # type: ignore[arg-type]
        self._watermarks = Watermarks(self.registry, self.online, self.root)
        self._indexes = IndexCache()
        self._parsed: dict[Any, dict[str, list[str]]] = {}
        self._items = ItemsFile(self.offline.root / "items.parquet")

    # --- names ------------------------------------------------------------------
    def _check_view(self, *views: str) -> None:
        """Raise the one "unknown view" error if any of ``views`` is not a view here."""
        unknown = [v for v in views if v not in self.views]
        if unknown:
            named = f"view {unknown[0]!r}" if len(unknown) == 1 else f"views {unknown}"
            raise ValueError(f"unknown {named}; valid views: {sorted(self.views)}.")

    def _view_names(self, views: Sequence[str] | None) -> list[str]:
        names = list(views) if views is not None else list(self.views)
        self._check_view(*names)
        return names

    def feature_names(self, view: str | None = None) -> list[str]:
        """Every valid ``"view:feature"`` reference (of one view, if given)."""
        names = self._view_names(None if view is None else [view])
        return [
            self.views[v].ref(f) for v in names for f in self.views[v].feature_names
        ]

    def default_values(self, features: Sequence[str]) -> dict[str, float]:
        """The declared defaults of ``features`` (those that declare one)."""
        return declared_defaults(features, self.views)

    def _parse(self, features: Sequence[str]) -> dict[str, list[str]]:
        """``parse_refs``, memoised: the serving path asks for the same lists."""
        key = tuple(features) if not isinstance(features, str) else features
        grouped = self._parsed.get(key)
        if grouped is None:
            grouped = self._parsed[key] = parse_refs(features, self.views)
        return grouped

    # --- m1: offline --------------------------------------------------------------
    def ingest(self, impressions: pd.DataFrame) -> IngestReport:
        """Validate and store raw impressions; see :meth:`OfflineStore.ingest`.

        The batch's files and the registry entry that records them land
        together: if either cannot be written (a full disk raises
        :class:`DiskFullError`), the store is left as it was.
        """
        with StagedFiles() as stage:
            report = self.offline.ingest(impressions, stage)
            stage.publish()
            self.registry.record_ingest(report.as_dict())
        return report

    @property
    def items_path(self) -> Path:
        return self._items.path

    def ingest_items(self, items: pd.DataFrame) -> int:
        """Store each item's category, replacing any earlier table; the items stored.

        Views keyed by ``user_category`` need it: the store derives that key
        from a row's ``user_id`` and its item's category (see ``keys.py``).
        The views are recomputed on their next read.
        """
        with StagedFiles() as stage:
            stored = self._items.replace(items, stage)
            stage.publish()
            self.registry.record_items(stored)
        return stored

    @property
    def item_categories(self) -> ItemCategories | None:
        """The ingested items table, or ``None`` if there is none."""
        return self._items.table

    def with_keys(
        self, frame: pd.DataFrame, views: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """``frame`` plus the derived key columns the views need and it lacks.

        E.g. a label frame with ``user_id`` and ``item_id`` gains
        ``user_category``; see ``keys.py``. All views by default.
        """
        entities = {self.views[v].entity for v in self._view_names(views)}
        return with_keys(frame, entities, self.item_categories)

    def entity_ids(self, view: str) -> np.ndarray:
        """Every key ``view`` has feature rows for, sorted (computes stale views)."""
        self.ensure_views()
        self._check_view(view)
        return entity_ids(self.feature_path(view), self.views[view].entity)

    def event_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The first and the last ``event_timestamp`` in the offline store (UTC)."""
        return self.offline.event_range()

    # --- m2: views ----------------------------------------------------------------
    def feature_path(self, view: str) -> Path:
        return feature_path(self.root, view)

    def views_current(self) -> bool:
        return self.registry.views_current(fingerprint(self.views.values())) and all(
            self.feature_path(v).exists() for v in self.views
        )

    def compute_views(self) -> dict[str, int]:
        """Compute every view's feature rows from the offline store; rows per view."""
        computed_at = instant_us(self.clock(), "clock()")
        with StagedFiles() as stage:  # every view's file and the registry, or none
            counts = compute_feature_files(
                self.offline,
                self.views,
                self.item_categories,
                computed_at,
                self.root,
                stage,
            )
            stage.publish()
            self.registry.record_computed(
                fingerprint(self.views.values()), computed_at, counts
            )
        return counts

    def ensure_views(self) -> None:
        """Recompute the views if the offline data or their definitions changed."""
        if not self.views_current():
            log.info("feature rows are stale; recomputing views")
            self.compute_views()

    def feature_rows(self, view: str) -> pd.DataFrame:
        """A view's feature rows (computed if stale)."""
        self.ensure_views()
        self._check_view(view)
        return pd.read_parquet(self.feature_path(view))

    # --- m3: training data ----------------------------------------------------------
    def get_historical_features(
        self,
        entity_df: pd.DataFrame,
        features: Sequence[str],
        *,
        defaults: Mapping[str, float] | None = None,
    ) -> pd.DataFrame:
        """Point-in-time correct features for each row of ``entity_df``.

        Args:
            entity_df: the key column of every requested view and a
                timezone-aware ``event_timestamp``; any other columns (labels)
                are kept. Rows keep their order; duplicates are fine.
            features: ``"view:feature"`` names (see :meth:`feature_names`).
            defaults: values that replace nulls, by feature name (e.g.
                ``store.default_values(features)``); nothing is filled otherwise.

        Returns:
            ``entity_df`` with one column per feature, as of each row's time
            and within each view's TTL; null (NaN) when there is no such row.
        """
        grouped = self._parse(features)
        keys = {v: self.views[v].entity for v in grouped}
        derived = check_request(entity_df, keys, self._items)
        self.ensure_views()
        specs = [
            JoinSpec(v, keys[v], names, self.views[v].ttl_us, self.as_of_index(v))
            for v, names in grouped.items()
        ]
        return join_features(entity_df, specs, derived, features, defaults)

    def as_of_index(self, view: str) -> AsOfIndex | SplitIndex:
        """The view's feature rows sorted for as-of lookups, kept in memory.

        Built on first use and again whenever the view's Parquet file changes,
        so repeated training-set joins skip reading and sorting the rows.
        """
        return self._indexes.get(self.views[view], self.feature_path(view))

    # --- m4: materialisation ----------------------------------------------------------
    def watermark(self, view: str) -> int | None:
        """How far ``view`` was materialised into this online store (epoch µs)."""
        return self._watermarks.get(view)

    def materialize(
        self, start: dt.datetime, end: dt.datetime, views: Sequence[str] | None = None
    ) -> MaterializeReport:
        """Write each entity's latest row with ``start ≤ event_timestamp ≤ end``.

        Use it for a first load and for backfills; the stored watermark only
        moves forward (to ``end`` if that is later).
        """
        start_us, end_us = instant_us(start, "start"), instant_us(end, "end")
        if start_us > end_us:
            raise ValueError(f"start {start} is after end {end}; swap them.")
        return self._materialize(
            dict.fromkeys(self._view_names(views), start_us), end_us
        )

    def materialize_incremental(
        self, end: dt.datetime, views: Sequence[str] | None = None
    ) -> MaterializeReport:
        """Materialise ``(watermark, end]`` per view (everything up to ``end`` the first time)."""
        end_us = instant_us(end, "end")
        starts = {v: self._watermarks.next_start(v) for v in self._view_names(views)}
        return self._materialize(starts, end_us)

    def _materialize(self, starts: dict[str, int], end_us: int) -> MaterializeReport:
        self.ensure_views()
        return materialize_views(
            self.views,
            starts,
            end_us,
            online=self.online,
            watermarks=self._watermarks,
            root=self.root,
            con=self.offline.con,
        )

    # --- m5: online reads ----------------------------------------------------------------
    def get_online_features(
        self,
        entity_rows: Any,
        features: Sequence[str],
        *,
        defaults: Mapping[str, float] | None = None,
        now: dt.datetime | None = None,
    ) -> OnlineFeatures:
        """Latest feature values per entity, one online round trip per view.

        Args:
            entity_rows: the keys to read, in request order (repeats allowed):
                a DataFrame or a mapping with each view's key column
                (``{"user_id": [1, 2]}``), or a plain list of ids when every
                requested view has the same key.
            features: ``"view:feature"`` names.
            defaults: values that replace nulls (missing entity, expired row
                or null aggregate), by feature; e.g. ``store.default_values(features)``.
            now: the time the TTL is judged at; by default each view's
                materialisation watermark (the store's present), or the clock
                for a view never materialised here.

        Returns:
            :class:`OnlineFeatures`: the key columns, then every feature in
            the requested order; rows older than ``now − ttl`` read as null.
        """
        grouped = self._parse(features)
        entities = {self.views[v].entity for v in grouped}
        columns = key_columns(entity_rows, request_keys(entity_rows, entities))
        lookup = {**columns, **self._items.derive(columns, entities)}
        now_us = None if now is None else instant_us(now, "now")
        result = OnlineFeatures()
        result.update(columns)
        values: dict[str, np.ndarray] = {}
        for name, names in grouped.items():
            view = self.views[name]
            at_us = now_us if now_us is not None else self._ttl_now(name)
            values.update(
                read_view(self.online, view, names, lookup[view.entity], at_us, result)
            )
        return assemble(result, values, features, defaults)

    def _ttl_now(self, view: str) -> int:
        """The online TTL's "now" for ``view``: its watermark, else the clock."""
        mark = self._watermarks.get(view)
        return mark if mark is not None else instant_us(self.clock(), "clock()")

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self.online.close()
        self.offline.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The feature store: one object over the offline store, the views and an online store.

    from labs.feature_store import FeatureStore
    store = FeatureStore("data/my_store", online="sqlite")
    store.ingest(load("tiny").impressions)                     # m1
    store.ingest_items(load("tiny").items)                      # item categories
    store.compute_views()                                       # m2
    train = store.get_historical_features(entity_df, ["user_activity:clicks_1h"])  # m3
    store.materialize_incremental(end)                          # m4
    store.get_online_features({"user_id": [1, 2]}, ["user_activity:clicks_1h"])    # m5

A store is a folder::

    <root>/registry.json                 what is stored, computed, materialised
    <root>/offline/impressions/...       validated events, Parquet by date (m1)
    <root>/offline/quarantine/...        rejected events with their reason (m1)
    <root>/offline/items.parquet         each item's category (see ``keys.py``)
    <root>/features/<view>.parquet       feature rows of each view (m2)
    <root>/online.db                     the SQLite online store, if chosen (m4)

Timestamps follow one rule (``schema.py``): timezone-aware in, UTC inside;
naive timestamps raise ``ValueError`` saying how to localise them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labs.feature_store.keys import (
    DERIVED_KEYS,
    ItemCategories,
    derive,
    source_columns,
    with_keys,
)
from labs.feature_store.materialize import latest_per_entity, write_online
from labs.feature_store.offline import IngestReport, OfflineStore
from labs.feature_store.online_request import OnlineFeatures, entity_keys, key_columns
from labs.feature_store.online_store import OnlineStore, open_online_store
from labs.feature_store.pit_join import (
    AsOfIndex,
    JoinSpec,
    build_index,
    check_entity_df,
    load_feature_rows,
    point_in_time_join,
)
from labs.feature_store.registry import Registry
from labs.feature_store.schema import instant_us
from labs.feature_store.views import FeatureView, default_views, fingerprint, parse_refs
from labs.feature_store.windows import compute_view

log = logging.getLogger(__name__)

EARLIEST_US = -(2**62)  # "from the beginning" for a first incremental run


@dataclass
class MaterializeReport:
    """What one materialisation did, per view."""

    start_us: dict[str, int] = field(default_factory=dict)
    end_us: int = 0
    entities: dict[str, int] = field(default_factory=dict)  # latest rows found
    written: dict[str, int] = field(default_factory=dict)  # rows the store changed
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        # Watermarks of a memory store die with the process: keep them here.
        self._persist_watermarks = self.online.kind != "memory"
        self._online_id = self.online.describe()
        path = getattr(self.online, "path", None)
        if self.online.kind == "sqlite" and path and Path(path).parent == self.root:
            self._online_id = f"sqlite:{Path(path).name}"  # survives moving the folder
        self._watermarks: dict[str, int] = {}
        self._parsed: dict[Any, dict[str, list[str]]] = {}
        self._indexes: dict[str, tuple[tuple[int, int], AsOfIndex]] = {}
        self._items: ItemCategories | None = None

    # --- names ------------------------------------------------------------------
    def feature_names(self, view: str | None = None) -> list[str]:
        """Every valid ``"view:feature"`` reference (of one view, if given)."""
        if view is not None and view not in self.views:
            raise ValueError(
                f"unknown view {view!r}; valid views: {sorted(self.views)}."
            )
        return [
            v.ref(f)
            for v in self.views.values()
            if view is None or v.name == view
            for f in v.feature_names
        ]

    def default_values(self, features: Sequence[str]) -> dict[str, float]:
        """The declared defaults of ``features`` (those that declare one)."""
        out = {}
        for view_name, names in parse_refs(features, self.views).items():
            view = self.views[view_name]
            for agg in view.aggregations:
                if agg.name in names and agg.default is not None:
                    out[view.ref(agg.name)] = agg.default
        return out

    # --- m1: offline --------------------------------------------------------------
    def ingest(self, impressions: pd.DataFrame) -> IngestReport:
        """Validate and store raw impressions; see :meth:`OfflineStore.ingest`."""
        report = self.offline.ingest(impressions)
        self.registry.record_ingest(report.as_dict())
        return report

    @property
    def items_path(self) -> Path:
        return self.offline.root / "items.parquet"

    def ingest_items(self, items: pd.DataFrame) -> int:
        """Store each item's category, replacing any earlier table; the items stored.

        Views keyed by ``user_category`` need it: the store derives that key
        from a row's ``user_id`` and its item's category (see ``keys.py``).
        The views are recomputed on their next read.
        """
        table = ItemCategories.from_items(items)
        table.save(self.items_path)
        self._items = table
        self.registry.record_items(len(table.item_id))
        return len(table.item_id)

    @property
    def item_categories(self) -> ItemCategories | None:
        """The ingested items table, or ``None`` if there is none."""
        if self._items is None and self.items_path.exists():
            self._items = ItemCategories.load(self.items_path)
        return self._items

    def with_keys(
        self, frame: pd.DataFrame, views: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """``frame`` plus the derived key columns the views need and it lacks.

        E.g. a label frame with ``user_id`` and ``item_id`` gains
        ``user_category``; see ``keys.py``. All views by default.
        """
        names = self._view_names(views)
        return with_keys(
            frame, {self.views[v].entity for v in names}, self.item_categories
        )

    def _derive(self, columns: Mapping[str, Any], entities: set[str]) -> dict[str, Any]:
        """``keys.derive`` for requests, which skips the items table when no view needs it."""
        if not entities & DERIVED_KEYS.keys():
            return {}  # the common request: no file check, no lookups
        return derive(columns, entities, self.item_categories)

    def entity_ids(self, view: str) -> np.ndarray:
        """Every key ``view`` has feature rows for, sorted (computes stale views)."""
        self.ensure_views()
        if view not in self.views:
            raise ValueError(
                f"unknown view {view!r}; valid views: {sorted(self.views)}."
            )
        entity = self.views[view].entity
        keys = pq.read_table(self.feature_path(view), columns=[entity])[entity]
        return np.sort(pd.unique(keys.drop_null().to_numpy(zero_copy_only=False)))

    def event_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The first and the last ``event_timestamp`` in the offline store (UTC)."""
        row = self.offline.query(
            "SELECT min(event_timestamp) AS first, max(event_timestamp) AS last "
            "FROM impressions"
        ).iloc[0]
        if pd.isna(row["first"]):
            raise ValueError(
                f"the offline store at {self.offline.root} is empty; ingest first."
            )
        return (
            pd.Timestamp(row["first"]).tz_convert("UTC"),
            pd.Timestamp(row["last"]).tz_convert("UTC"),
        )

    # --- m2: views ----------------------------------------------------------------
    def feature_path(self, view: str) -> Path:
        return self.root / "features" / f"{view}.parquet"

    def views_current(self) -> bool:
        return self.registry.views_current(fingerprint(self.views.values())) and all(
            self.feature_path(v).exists() for v in self.views
        )

    def compute_views(self) -> dict[str, int]:
        """Compute every view's feature rows from the offline store; rows per view."""
        entities = {v.entity for v in self.views.values()}
        needed = sorted(
            source_columns(entities)
            | {
                a.column
                for v in self.views.values()
                for a in v.aggregations
                if a.column
            }
            | {"event_timestamp", "created_timestamp"}
        )
        events = self.offline.query(f"SELECT {', '.join(needed)} FROM impressions")
        for name in ("event_timestamp", "created_timestamp"):
            events[name] = events[name].dt.tz_convert("UTC").dt.as_unit("us")
        events = with_keys(events, entities, self.item_categories)
        for entity in entities & DERIVED_KEYS.keys():
            unkeyed = events[entity].isna()
            if unkeyed.any():  # an item the items table lacks: never drop silently
                unknown = events.loc[unkeyed, "item_id"].unique()[:5].tolist()
                raise ValueError(
                    f"{int(unkeyed.sum())} stored impressions show items the items "
                    f"table lacks (e.g. item ids {unknown}), so they have no "
                    f"{entity!r} key; ingest an items table that covers them."
                )
        computed_at = instant_us(self.clock(), "clock()")
        counts = {}
        for view in self.views.values():
            rows = compute_view(view, events, computed_at)
            path = self.feature_path(view.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), tmp)
            tmp.replace(path)
            counts[view.name] = len(rows)
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
        if view not in self.views:
            raise ValueError(
                f"unknown view {view!r}; valid views: {sorted(self.views)}."
            )
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
        # Checks the frame and every key it must carry; derive() names the
        # columns a missing derived key is built from.
        check_entity_df(
            entity_df,
            {v: e for v, e in keys.items() if e not in DERIVED_KEYS or e in entity_df},
        )
        derived = self._derive(entity_df, set(keys.values()))
        self.ensure_views()
        specs = [
            JoinSpec(
                name,
                self.views[name].entity,
                names,
                self.views[name].ttl_us,
                self.as_of_index(name),
            )
            for name, names in grouped.items()
        ]
        joined = point_in_time_join(entity_df, specs, keys=derived)
        order = [*entity_df.columns, *features]
        if list(joined.columns) != order:  # a million-row copy: only when needed
            joined = joined[order]
        return _fill(joined, defaults, features)

    def as_of_index(self, view: str) -> AsOfIndex:
        """The view's feature rows sorted for as-of lookups, kept in memory.

        Built on first use and again whenever the view's Parquet file changes,
        so repeated training-set joins skip reading and sorting the rows.
        """
        path = self.feature_path(view)
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._indexes.get(view)
        if cached is None or cached[0] != version:
            v = self.views[view]
            rows = load_feature_rows(path, v.entity, v.feature_names)
            cached = self._indexes[view] = (version, build_index(rows))
        return cached[1]

    # --- m4: materialisation ----------------------------------------------------------
    def watermark(self, view: str) -> int | None:
        """How far ``view`` was materialised into this online store (epoch µs)."""
        if self._persist_watermarks:
            return self.registry.watermark(self._online_id, view)
        return self._watermarks.get(view)

    def _advance(self, view: str, end_us: int) -> None:
        current = self.watermark(view)
        end_us = max(end_us, current) if current is not None else end_us
        if self._persist_watermarks:
            self.registry.set_watermark(self._online_id, view, end_us)
        else:
            self._watermarks[view] = end_us

    def _materialize(self, starts: dict[str, int], end_us: int) -> MaterializeReport:
        self.ensure_views()
        report = MaterializeReport(start_us=starts, end_us=end_us)
        began = time.perf_counter()
        for name, start_us in starts.items():
            view = self.views[name]
            if start_us <= end_us:
                latest = latest_per_entity(
                    self.feature_path(name),
                    view.entity,
                    view.feature_names,
                    start_us,
                    end_us,
                    con=self.offline.con,
                )
                report.entities[name] = len(latest)
                report.written[name] = write_online(
                    self.online, name, latest, view.entity, view.feature_names
                )
            else:
                report.entities[name] = report.written[name] = 0
            self._advance(name, end_us)
        report.seconds = time.perf_counter() - began
        return report

    def _view_names(self, views: Sequence[str] | None) -> list[str]:
        names = list(views) if views is not None else list(self.views)
        unknown = [v for v in names if v not in self.views]
        if unknown:
            raise ValueError(
                f"unknown views {unknown}; valid views: {sorted(self.views)}."
            )
        return names

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
        starts = {}
        for name in self._view_names(views):
            mark = self.watermark(name)
            starts[name] = EARLIEST_US if mark is None else mark + 1
        return self._materialize(starts, end_us)

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
        columns = key_columns(entity_rows, _request_keys(entity_rows, entities))
        lookup = {**columns, **self._derive(columns, entities)}
        now_us = None if now is None else instant_us(now, "now")
        result = OnlineFeatures()
        values_by_ref: dict[str, np.ndarray] = {}
        for name, names in grouped.items():
            view = self.views[name]
            keys, valid = entity_keys(lookup[view.entity])
            at_us = now_us if now_us is not None else self.watermark(name)
            if at_us is None:
                at_us = instant_us(self.clock(), "clock()")
            # BEGIN SOLUTION m5: one read_batch per view; expired (older than now - ttl) and missing rows read as null
            read = self.online.read_batch(name, keys, names)
            found = read.found if valid is None else read.found & valid
            fresh = found & (read.event_us >= at_us - view.ttl_us)
            values = (
                read.values  # the common case: every key fresh, nothing to blank
                if fresh.all()
                else np.where(fresh[:, None], read.values, np.nan)
            )
            for j, feature in enumerate(names):
                values_by_ref[view.ref(feature)] = values[:, j]
            result.missing[name] = ~found
            result.expired[name] = found ^ fresh  # found, but older than now - ttl
            result.event_us[name] = read.event_us  # 0 where not found
            # END SOLUTION
        result.update(columns)
        if defaults and not set(defaults) <= values_by_ref.keys():
            unknown = sorted(set(defaults) - values_by_ref.keys())
            raise ValueError(f"defaults name features not requested: {unknown}.")
        for ref in features:
            column = values_by_ref[ref]
            if defaults and ref in defaults:
                column = np.where(np.isnan(column), float(defaults[ref]), column)
            result[ref] = column
        return result

    def _parse(self, features: Sequence[str]) -> dict[str, list[str]]:
        """``parse_refs``, memoised: the serving path asks for the same lists."""
        key = tuple(features) if not isinstance(features, str) else features
        grouped = self._parsed.get(key)
        if grouped is None:
            grouped = parse_refs(features, self.views)
            self._parsed[key] = grouped
        return grouped

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self.online.close()
        self.offline.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _request_keys(entity_rows: Any, entities: set[str]) -> set[str]:
    """The key columns a request must carry: a derived key's sources unless it has the key."""
    if not isinstance(entity_rows, (pd.DataFrame, Mapping)):
        return entities  # a plain list of ids is the only view's key itself
    out: set[str] = set()
    for entity in entities:
        given = entity in entity_rows or entity not in DERIVED_KEYS
        out.update((entity,) if given else DERIVED_KEYS[entity])
    return out


def _fill(
    frame: pd.DataFrame, defaults: Mapping[str, float] | None, features: Sequence[str]
) -> pd.DataFrame:
    if not defaults:
        return frame
    unknown = [k for k in defaults if k not in features]
    if unknown:
        raise ValueError(f"defaults name features not requested: {unknown}.")
    return frame.fillna({k: float(v) for k, v in defaults.items()})

"""Feature views: declarative definitions of what the store computes and serves.

A view names an entity key, a source table, windowed aggregations and a TTL::

    user_activity = FeatureView(
        name="user_activity",
        entity="user_id",
        ttl=timedelta(hours=24),
        aggregations=(
            Aggregation("clicks_1h", "sum", timedelta(hours=1), column="clicked"),
            Aggregation("ctr_24h", "mean", timedelta(hours=24), column="clicked"),
        ),
    )

Features are addressed as ``"view:feature"`` (``"user_activity:clicks_1h"``);
that string is also the column name in every result. Nothing here computes:
``windows.py`` turns a view into feature rows, ``pit_join.py`` reads them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, get_args

from labs.feature_store.keys import USER_CATEGORY, source_columns
from labs.feature_store.schema import IMPRESSION_SCHEMA, duration_us

AggFunction = Literal["count", "sum", "mean"]
FUNCTIONS: tuple[str, ...] = get_args(AggFunction)
SOURCES = {"impressions": IMPRESSION_SCHEMA}  # the tables a view may read


@dataclass(frozen=True)
class Aggregation:
    """One windowed aggregation over a view's source rows.

    For a feature row of entity ``k`` at time ``t`` and window ``w``, the
    aggregation ranges over source rows ``j`` with ``key_j = k``,
    ``t − w ≤ event_j`` and ``created_j ≤ t`` (rows that had *arrived* by ``t``):

    - ``count``: the number of such rows;
    - ``sum``: ``Σ column_j``;
    - ``mean``: ``sum / count``, null when ``count = 0``.

    Attributes:
        name: the feature name inside its view, e.g. ``"clicks_1h"``.
        function: ``count``, ``sum`` or ``mean``.
        window: the look-back ``w``.
        column: the source column to sum or average (unused by ``count``).
        default: the value a caller may fill in for a null (see
            ``FeatureStore.default_values``); never applied implicitly.
    """

    name: str
    function: AggFunction
    window: dt.timedelta
    column: str | None = None
    default: float | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(
                f"feature name {self.name!r} must be an identifier (letters, digits, _)."
            )
        if self.function not in FUNCTIONS:
            raise ValueError(
                f"aggregation {self.name!r}: function must be one of {FUNCTIONS}, "
                f"got {self.function!r}."
            )
        if self.function != "count" and self.column is None:
            raise ValueError(
                f"aggregation {self.name!r}: {self.function} needs a column to aggregate."
            )
        duration_us(self.window, f"window of {self.name!r}")

    @cached_property
    def window_us(self) -> int:
        return duration_us(self.window, "window")


@dataclass(frozen=True)
class FeatureView:
    """Entity key + source + windowed aggregations + TTL.

    Attributes:
        name: the view's name, the part before ``:`` in a feature reference.
        entity: the key column in the source (and in an ``entity_df``).
        aggregations: the features, in the order results list them.
        ttl: how old a feature row may be and still be served: a row at
            ``feature_ts`` answers a request at ``t`` only if
            ``t − ttl ≤ feature_ts ≤ t``; older means null (missing).
        source: the offline table the aggregations read.
        description: one line for humans.
    """

    name: str
    entity: str
    aggregations: tuple[Aggregation, ...]
    ttl: dt.timedelta
    source: str = "impressions"
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"view name {self.name!r} must be an identifier.")
        object.__setattr__(self, "aggregations", tuple(self.aggregations))
        if not self.aggregations:
            raise ValueError(f"view {self.name!r} has no aggregations.")
        names = [a.name for a in self.aggregations]
        if len(set(names)) != len(names):
            raise ValueError(f"view {self.name!r} repeats feature names: {names}.")
        if self.source not in SOURCES:
            raise ValueError(
                f"view {self.name!r}: unknown source {self.source!r}; "
                f"valid: {sorted(SOURCES)}."
            )
        columns = SOURCES[self.source]
        keys = source_columns([self.entity])  # a derived key's sources: keys.py
        for needed in (*keys, *(a.column for a in self.aggregations if a.column)):
            if needed not in columns:
                raise ValueError(
                    f"view {self.name!r}: column {needed!r} is not in source "
                    f"{self.source!r} (columns: {list(columns)})."
                )
        duration_us(self.ttl, f"ttl of view {self.name!r}")

    @property
    def feature_names(self) -> list[str]:
        return [a.name for a in self.aggregations]

    @cached_property
    def ttl_us(self) -> int:  # read on every online request: computed once
        return duration_us(self.ttl, "ttl")

    def ref(self, feature: str) -> str:
        return f"{self.name}:{feature}"

    def spec(self) -> dict[str, Any]:
        """A JSON-able description (for the registry and cache fingerprints)."""
        return {
            "name": self.name,
            "entity": self.entity,
            "source": self.source,
            "ttl_us": self.ttl_us,
            "aggregations": [
                [a.name, a.function, a.window_us, a.column, a.default]
                for a in self.aggregations
            ],
        }


def fingerprint(views: Iterable[FeatureView]) -> str:
    """A short hash of the view definitions: changes when any definition does."""
    blob = json.dumps([v.spec() for v in views], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def parse_refs(
    features: Sequence[str], views: dict[str, FeatureView]
) -> dict[str, list[str]]:
    """Group ``"view:feature"`` references by view, keeping their order.

    Raises:
        ValueError: a reference is malformed or names an unknown view or
            feature; the message lists the valid references.
    """
    if isinstance(features, str) or not features:
        raise ValueError(
            f"features must be a non-empty list of 'view:feature' names, got "
            f"{features!r}."
        )
    grouped: dict[str, list[str]] = {}
    for ref in features:
        view_name, _, name = str(ref).partition(":")
        view = views.get(view_name)
        if view is None or name not in view.feature_names:
            valid = [v.ref(f) for v in views.values() for f in v.feature_names]
            raise ValueError(
                f"unknown feature {ref!r}; valid features are: {', '.join(valid)}."
            )
        if name in grouped.setdefault(view_name, []):
            raise ValueError(f"feature {ref!r} is requested twice.")
        grouped[view_name].append(name)
    return grouped


def declared_defaults(
    features: Sequence[str], views: dict[str, FeatureView]
) -> dict[str, float]:
    """The declared defaults of ``features`` (those that declare one), by reference."""
    out = {}
    for view_name, names in parse_refs(features, views).items():
        view = views[view_name]
        for agg in view.aggregations:
            if agg.name in names and agg.default is not None:
                out[view.ref(agg.name)] = agg.default
    return out


def check_defaults(defaults: Mapping[str, float], features: Sequence[str]) -> None:
    """Reject defaults for features that were not requested (a likely typo)."""
    unknown = [k for k in defaults if k not in features]
    if unknown:
        raise ValueError(f"defaults name features not requested: {unknown}.")


def _h(hours: float) -> dt.timedelta:
    return dt.timedelta(hours=hours)


def default_views() -> list[FeatureView]:
    """The three views every later lab reads: ``user_activity``, ``item_stats``
    and ``user_category``.

    ``user_activity`` (by ``user_id``) holds a user's recent engagement: the
    last hour carries ShopStream's session-intent signal, the last day and week
    the user's propensity. ``item_stats`` (by ``item_id``) holds an item's
    popularity (exposure) and recent click-through rate, which drifts daily,
    and its clicks in the last hour, which catch a trending burst. Both keep
    a 24 h TTL: a user idle for a day reads as missing.

    ``user_category`` (by the pair of a user and the item's category, which the
    store derives from ``user_id`` and ``item_id``: see ``keys.py``) holds how
    often the user saw and clicked that category in the last week: ShopStream
    users prefer a few categories, and show them more. It keeps a week's TTL.
    """
    day, week = _h(24), _h(24 * 7)
    return [
        FeatureView(
            name="user_activity",
            entity="user_id",
            ttl=day,
            description="A user's recent clicks, impressions and CTR.",
            aggregations=(
                Aggregation("clicks_1h", "sum", _h(1), column="clicked", default=0.0),
                Aggregation("impressions_1h", "count", _h(1), default=0.0),
                Aggregation("clicks_24h", "sum", day, column="clicked", default=0.0),
                Aggregation("impressions_24h", "count", day, default=0.0),
                Aggregation("ctr_24h", "mean", day, column="clicked"),
                Aggregation("ctr_7d", "mean", week, column="clicked"),
                Aggregation("impressions_7d", "count", week, default=0.0),
            ),
        ),
        FeatureView(
            name="item_stats",
            entity="item_id",
            ttl=day,
            description="An item's popularity and recent CTR.",
            aggregations=(
                Aggregation("impressions_1h", "count", _h(1), default=0.0),
                Aggregation("clicks_1h", "sum", _h(1), column="clicked", default=0.0),
                Aggregation("impressions_24h", "count", day, default=0.0),
                Aggregation("clicks_24h", "sum", day, column="clicked", default=0.0),
                Aggregation("ctr_24h", "mean", day, column="clicked"),
                Aggregation("ctr_7d", "mean", week, column="clicked"),
            ),
        ),
        FeatureView(
            name="user_category",
            entity=USER_CATEGORY,
            ttl=week,
            description="A user's impressions and clicks in the item's category.",
            aggregations=(
                Aggregation("impressions_7d", "count", week, default=0.0),
                Aggregation("clicks_7d", "sum", week, column="clicked", default=0.0),
            ),
        ),
    ]

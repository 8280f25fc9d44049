"""m3 — the point-in-time join: each training row gets the features it could have had.

    from labs.feature_store.pit_join import JoinSpec, point_in_time_join
    out = point_in_time_join(entity_df, [JoinSpec("user_activity", "user_id",
                              ["clicks_1h"], ttl_us=3_600_000_000, source=rows)])

For every row of ``entity_df`` (an entity key and an ``event_timestamp``
``t``) and every view, the join picks the view's feature row of that entity
with the **latest** ``feature_ts ≤ t``; ties on ``feature_ts`` go to the
larger ``created_timestamp`` (then to the row later in the source). The
values are kept only if that row is within the TTL, ``feature_ts ≥ t − ttl``;
otherwise, or when there is no such row, the features are null (NaN).

Never the latest value overall: that leaks the future into training. The join
is a vectorised as-of join in two steps, like a database index:
:func:`build_index` sorts a view's rows once by ``(entity, time)`` and keeps
each ``(entity, time)``'s winning row; :func:`as_of_lookup` binary-searches
every entity row in it, O(m log n) for ``m`` rows. The store keeps each
view's index in memory, so only the first join after a recompute pays for the
sort. In SQL the same join reads::

    SELECT e.*, v.* FROM entity_df e
    ASOF LEFT JOIN feature_rows v
      ON e.user_id = v.user_id AND e.event_timestamp >= v.event_timestamp
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labs.feature_store.feature_rows import TIMESTAMP, FeatureRows, load_feature_rows
from labs.feature_store.key_codes import KeyCodes
from labs.feature_store.schema import epoch_us

# Probes ``code * span + offset`` stay below this, so int64 never wraps.
PROBE_LIMIT = 2**62


@dataclass(frozen=True)
class JoinSpec:
    """One view's side of the join.

    Attributes:
        name: the view name; output columns are ``"<name>:<feature>"``.
        entity: the key column, in ``entity_df`` and in the source.
        features: the feature columns to fetch from the source.
        ttl_us: the view's TTL in µs.
        source: the feature rows, as a DataFrame or a Parquet file with
            columns ``[entity, event_timestamp, created_timestamp, *features]``
            (timezone-aware timestamps, in a Parquet file in any unit), or
            the index :func:`build_index` built from them.
    """

    name: str
    entity: str
    features: Sequence[str]
    ttl_us: int
    source: pd.DataFrame | str | Path | AsOfIndex | SplitIndex

    @property
    def columns(self) -> list[str]:
        return [f"{self.name}:{f}" for f in self.features]


def entity_times(entity_df: pd.DataFrame, column: str = TIMESTAMP) -> np.ndarray:
    """Check ``entity_df``'s timestamp column and return it as epoch µs.

    Raises:
        ValueError: the column is missing, naive, or holds nulls.
    """
    if not isinstance(entity_df, pd.DataFrame):
        raise ValueError(
            f"entity_df must be a pandas DataFrame, got {type(entity_df).__name__}."
        )
    if column not in entity_df.columns:
        raise ValueError(
            f"entity_df has no {column!r} column (columns: {list(entity_df.columns)}); "
            f"add the time at which each row's features should be read, as "
            f"timezone-aware timestamps."
        )
    times = epoch_us(entity_df[column], column)
    if entity_df[column].isna().any():
        raise ValueError(
            f"entity_df[{column!r}] has {int(entity_df[column].isna().sum())} null "
            "timestamps; every row needs a time to be joined as of."
        )
    return times


def check_entity_df(entity_df: pd.DataFrame, keys: dict[str, str]) -> np.ndarray:
    """Check ``entity_df`` has a usable timestamp and every view's key column.

    Args:
        entity_df: the rows to join.
        keys: view name -> its entity key column.

    Returns:
        The rows' times as epoch µs.
    """
    row_us = entity_times(entity_df)
    for view, entity in keys.items():
        if entity not in entity_df.columns:
            raise ValueError(
                f"entity_df has no {entity!r} column, the key of view {view!r} "
                f"(columns: {list(entity_df.columns)})."
            )
    return row_us


@dataclass
class AsOfIndex:
    """A view's feature rows arranged for as-of lookups (see :func:`build_index`).

    Attributes:
        codec: maps entity keys to the codes used below.
        origin: feature times are stored as ``ts - origin`` (all >= 1).
        span: one more than the largest ``ts - origin``.
        probe: sorted ``code * span + (ts - origin)``, one per distinct
            ``(entity, ts)``, shape ``(k,)``.
        code: the entity code of each probe, shape ``(k,)``.
        ts_us: the feature time of each probe, shape ``(k,)``.
        values: the winning row's features for each probe, ``(k, f)``.
        features: the ``f`` feature names.
    """

    codec: KeyCodes
    origin: int
    span: int
    probe: np.ndarray
    code: np.ndarray
    ts_us: np.ndarray
    values: np.ndarray
    features: tuple[str, ...]


@dataclass
class SplitIndex:
    """An as-of index for keys × time spans too wide for one int64 probe.

    A probe ``code * span + offset`` fits int64 while ``n_codes * span <
    2**62``. ShopStream ``large``'s pair keys range over 6M values across two
    weeks of microseconds (7e18), so the cheap codes (the key itself) do not
    fit. :meth:`build` first numbers only the distinct keys
    (``KeyCodes.dense``), which usually fits and gives one ordinary
    :class:`AsOfIndex`. If even that is too wide, it cuts the code range
    into parts narrow enough to fit and builds one :class:`AsOfIndex` per
    part: a sort by (part, then the usual probe), so two sort keys, each of
    which fits. Nothing is rounded: times stay exact microseconds.

    Attributes:
        codec: the distinct-key codes over every part.
        starts: part ``p`` holds codes ``[starts[p], starts[p + 1])``.
        parts: one index per part, keys renumbered from 0 within it.
        features: the feature names.
    """

    codec: KeyCodes
    starts: np.ndarray
    parts: list[AsOfIndex]
    features: tuple[str, ...]

    @classmethod
    def build(
        cls, rows: FeatureRows, codec: KeyCodes, span: int
    ) -> AsOfIndex | SplitIndex:
        """Index ``rows``, whose ``codec.n * span`` is too wide for one probe."""
        if span >= PROBE_LIMIT:
            raise ValueError(
                f"feature times span {span} µs (over 140,000 years); check the "
                "timestamps' unit: they must be epoch microseconds."
            )
        dense = codec.dense(rows.key)
        per_part = (PROBE_LIMIT - 1) // span  # codes per part; >= 1
        if dense.n <= per_part:
            return build_index(rows, dense)
        code = dense.codes(rows.key)
        starts = np.arange(0, dense.n, per_part)
        parts = []
        for start in starts.tolist():
            mine = np.flatnonzero((code >= start) & (code < start + per_part))
            part = FeatureRows(  # source order kept: ties still go to the later row
                rows.key.iloc[mine].reset_index(drop=True),
                rows.ts_us[mine],
                rows.created_us[mine],
                rows.values[mine],
                rows.features,
            )
            built = build_index(part, dense.part(start, start + per_part))
            assert isinstance(built, AsOfIndex)  # a part's codes fit by construction
            parts.append(built)
        return cls(dense, starts, parts, rows.features)

    def lookup(
        self,
        query_key: pd.Series,
        query_us: np.ndarray,
        ttl_us: int,
        features: Sequence[str] | None = None,
    ) -> np.ndarray:
        """:func:`as_of_lookup` over the parts: each query asks its key's part."""
        width = len(features or self.features)
        keys = pd.Series(query_key).reset_index(drop=True)
        query_us = np.asarray(query_us, dtype=np.int64)
        code = self.codec.codes(keys)
        which = np.searchsorted(self.starts, code, side="right") - 1
        out = np.full((len(query_us), width), np.nan)
        for p, part in enumerate(self.parts):
            mine = np.flatnonzero((which == p) & (code >= 0))
            if len(mine):
                out[mine] = as_of_lookup(
                    part, keys.iloc[mine], query_us[mine], ttl_us, features
                )
        return out


def build_index(
    rows: FeatureRows, codec: KeyCodes | None = None
) -> AsOfIndex | SplitIndex:
    """Sort feature rows by ``(entity, ts)``, keeping one winner per pair.

    Among rows sharing an entity and a ``ts``, the winner has the largest
    ``created_us``, then comes latest in ``rows``. Each kept row becomes one
    int64 probe ``code * span + (ts - origin)`` so that sorting by probe sorts
    by entity, then time, and a binary search can find "the latest row of
    entity k at or before t".

    Args:
        rows: ``n`` feature rows (any order; the store writes them sorted by
            entity and time, which a stable sort handles in near-linear time).
        codec: how to number the keys; ``KeyCodes.fit(rows.key)`` by default.

    Returns:
        The index; empty arrays when ``rows`` is empty. When the codes times
        the time span would not fit one int64 probe, a :class:`SplitIndex`
        of several such indexes (given; see its docstring).
    """
    codec = codec if codec is not None else KeyCodes.fit(rows.key)
    if len(rows.ts_us) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return AsOfIndex(
            codec,
            0,
            1,
            empty,
            empty,
            empty,
            np.zeros((0, len(rows.features))),
            rows.features,
        )
    origin = int(rows.ts_us.min()) - 1
    span = int(rows.ts_us.max()) - origin + 1
    if codec.n * span >= PROBE_LIMIT:
        return SplitIndex.build(rows, codec, span)
    code = codec.codes(rows.key)
    # BEGIN SOLUTION m3: sort rows by (key, ts, created) and keep the last row of each (key, ts)
    probe = code * span + (rows.ts_us - origin)
    # Optional speed-up (bench figure build_index_ms): the store writes rows
    # sorted by entity, then time, one per pair. Probes already strictly
    # increasing need no sort, no dedupe and no copy; the general path below
    # builds the same index from them, only slower.
    if (probe[1:] > probe[:-1]).all():
        return AsOfIndex(
            codec, origin, span, probe, code, rows.ts_us, rows.values, rows.features
        )
    # Sort by probe, then created. lexsort is stable, so rows equal in both
    # keep their source order: the last row of each run of equal probes wins.
    order = np.lexsort((rows.created_us, probe))
    sorted_probe = probe[order]
    last = np.ones(len(order), dtype=bool)  # the last row of each (key, ts) run
    last[:-1] = sorted_probe[1:] != sorted_probe[:-1]
    keep = order[last]
    return AsOfIndex(
        codec=codec,
        origin=origin,
        span=span,
        probe=sorted_probe[last],
        code=code[keep],
        ts_us=rows.ts_us[keep],
        values=rows.values[keep],
        features=rows.features,
    )
    # END SOLUTION


def as_of_lookup(
    index: AsOfIndex | SplitIndex,
    query_key: pd.Series,
    query_us: np.ndarray,
    ttl_us: int,
    features: Sequence[str] | None = None,
) -> np.ndarray:
    """The feature values as of each query, within the TTL.

    For query ``q`` with key ``k`` and time ``t``: the index's row of ``k``
    with the largest ``ts ≤ t``, if ``ts ≥ t − ttl``; else NaN. A null or
    unknown key matches nothing.

    Args:
        index: from :func:`build_index`.
        query_key: the entity per query, shape ``(m,)`` (nulls allowed).
        query_us: the as-of time per query, epoch µs, shape ``(m,)``.
        ttl_us: the TTL in µs.
        features: the features to return (all of the index's by default).

    Returns:
        float64 of shape ``(m, len(features))``.
    """
    if isinstance(index, SplitIndex):
        return index.lookup(query_key, query_us, ttl_us, features)
    columns = [index.features.index(f) for f in (features or index.features)]
    m = len(query_us)
    if m == 0 or len(index.probe) == 0:
        return np.full((m, len(columns)), np.nan)
    # BEGIN SOLUTION m3: binary-search each query's (key, t) in the index, then apply the TTL
    q_code = index.codec.codes(query_key)
    query_us = np.asarray(query_us, dtype=np.int64)
    # Times past the last row clip to it; times before the first clip to 0,
    # which no row has (every row's offset is >= 1).
    offset = np.clip(query_us - index.origin, 0, index.span - 1)
    q_probe = q_code * index.span + offset
    # Optional speed-up (bench figure as_of_lookup_ms): work in sorted probe
    # order, so the binary searches and the reads of the index walk forward
    # through memory, and put the rows back in the queries' order at the end.
    # Without it, q_order would leave every query in its place.
    q_order = np.argsort(q_probe, kind="stable")
    q_code, q_probe, query_us = q_code[q_order], q_probe[q_order], query_us[q_order]
    # The latest probe <= the query's: the same key, or an earlier one.
    hit = np.searchsorted(index.probe, q_probe, side="right") - 1
    pos = np.maximum(hit, 0)
    ok = (
        (hit >= 0)
        & (q_code >= 0)
        & (index.code[pos] == q_code)  # the same entity, not the previous key's
        & (index.ts_us[pos] >= query_us - ttl_us)  # within the TTL
    )
    rows = index.values[np.ix_(pos, columns)]
    rows[~ok] = np.nan
    out = np.empty_like(rows)
    out[q_order] = rows
    return out
    # END SOLUTION


def point_in_time_join(
    entity_df: pd.DataFrame,
    specs: Sequence[JoinSpec],
    keys: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Join every row of ``entity_df`` to each view's features as of its time.

    Args:
        entity_df: ``n`` rows with each spec's entity column and a
            timezone-aware ``event_timestamp``; duplicates allowed, any order.
        specs: the views to join and their features.
        keys: key columns (``n`` values each) to use instead of columns of
            ``entity_df``: the store passes the keys it derives this way
            (``user_category``), so they stay out of the result.

    Returns:
        A copy of ``entity_df`` (same index, same row order) with one float
        column ``"<view>:<feature>"`` per requested feature: the value of the
        latest feature row with ``t − ttl ≤ feature_ts ≤ t`` (ties: larger
        ``created_timestamp``, then later in the source), NaN if none.
    """
    given = dict(keys or {})
    row_us = check_entity_df(
        entity_df, {s.name: s.entity for s in specs if s.entity not in given}
    )
    parts = [entity_df]
    for spec in specs:
        index = spec.source
        if not isinstance(index, (AsOfIndex, SplitIndex)):
            index = build_index(
                load_feature_rows(spec.source, spec.entity, spec.features)
            )
        key = given.get(spec.entity)
        if key is None:
            key = entity_df[spec.entity]
        elif len(key) != len(entity_df):
            raise ValueError(
                f"keys[{spec.entity!r}] has {len(key)} values for {len(entity_df)} rows."
            )
        values = as_of_lookup(index, pd.Series(key), row_us, spec.ttl_us, spec.features)
        # One block per view, no copy (a million rows by 15 features is 120 MB).
        parts.append(pd.DataFrame(values, columns=spec.columns, index=entity_df.index))
    return pd.concat(parts, axis=1)

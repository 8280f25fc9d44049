"""Brute-force oracles and small helpers for the feature-store tests.

Each oracle is a plain Python loop over rows, written from the definition in
the lab's docstrings, so a vectorised implementation is checked against
something that cannot share its bugs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

HOUR_US = 3_600_000_000
# The online backends every online test runs against; Redis is a real server.
BACKENDS = ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def micros(values: pd.Series) -> np.ndarray:
    """Timezone-aware timestamps as epoch µs."""
    return np.asarray(values.dt.as_unit("us").array.asi8, dtype=np.int64)


def from_micros(values: Sequence[int]) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(values, dtype=np.int64), unit="us", utc=True)


def brute_window_sum(
    key: Sequence,
    event: Sequence[int],
    created: Sequence[int],
    value: Sequence[float],
    query_key: object,
    query_t: int,
    window: int,
) -> float:
    """Σ value over rows with the key, t - w <= event, created <= t."""
    total = 0.0
    for k, e, c, v in zip(key, event, created, value, strict=True):
        if k == query_key and query_t - window <= e and c <= query_t:
            total += v
    return total


def brute_as_of(
    key: Sequence,
    ts: Sequence[int],
    created: Sequence[int],
    values: np.ndarray,
    query_key: object,
    query_t: int,
    ttl: int,
) -> np.ndarray:
    """The values of the latest row (ts, created, position) with ts <= t, within the TTL."""
    best, best_rank = None, None
    for i, (k, t, c) in enumerate(zip(key, ts, created, strict=True)):
        if query_key is None or k != query_key or t > query_t:
            continue
        rank = (t, c, i)
        if best_rank is None or rank > best_rank:
            best, best_rank = i, rank
    if best is None or ts[best] < query_t - ttl:
        return np.full(values.shape[1], np.nan)
    return values[best]


def scan_as_of(
    key: np.ndarray,
    ts: np.ndarray,
    created: np.ndarray,
    values: np.ndarray,
    query_key: object,
    query_t: int,
    ttl: int,
) -> np.ndarray:
    """``brute_as_of`` with a full numpy scan per query (for larger tables)."""
    if query_key is None:
        return np.full(values.shape[1], np.nan)
    rows = np.flatnonzero((key == query_key) & (ts <= query_t))
    if len(rows) == 0:
        return np.full(values.shape[1], np.nan)
    best = rows[np.lexsort((rows, created[rows], ts[rows]))[-1]]
    return (
        values[best] if ts[best] >= query_t - ttl else np.full(values.shape[1], np.nan)
    )


def brute_quarantine(rows: list[dict], stored_ids: set[int]) -> list[str | None]:
    """The first rule each row breaks (see offline.quarantine_reasons), by loops."""
    reasons: list[str | None] = []
    for row in rows:
        if any(
            v is None
            or v is pd.NA
            or (isinstance(v, float) and math.isnan(v))
            or v is pd.NaT
            for v in row.values()
        ):
            reasons.append("null_value")
        elif row["position"] < 0:
            reasons.append("negative_position")
        elif row["clicked"] not in (0, 1):
            reasons.append("invalid_clicked")
        elif row["created_timestamp"] < row["event_timestamp"]:
            reasons.append("created_before_event")
        else:
            reasons.append(None)
    # Duplicates among the rows still valid: the earliest created (then first) wins.
    candidates = [i for i, r in enumerate(reasons) if r is None]
    first: dict[int, int] = {}
    for i in candidates:
        rid = rows[i]["impression_id"]
        rank = (rows[i]["created_timestamp"], i)
        if rid not in first or rank < (
            rows[first[rid]]["created_timestamp"],
            first[rid],
        ):
            first[rid] = i
    for i in candidates:
        rid = rows[i]["impression_id"]
        if rid in stored_ids or first[rid] != i:
            reasons[i] = "duplicate_impression_id"
    return reasons


def latest_rows(
    frame: pd.DataFrame, entity: str, start_us: int, end_us: int
) -> pd.DataFrame:
    """Per entity, the row with the max (event, created, position) in [start, end]."""
    best: dict[object, tuple] = {}
    ts, created = micros(frame["event_timestamp"]), micros(frame["created_timestamp"])
    for i, k in enumerate(frame[entity].tolist()):
        if start_us <= ts[i] <= end_us:
            rank = (ts[i], created[i], i)
            if k not in best or rank > best[k]:
                best[k] = rank
    keep = sorted(best.values(), key=lambda r: r[2])
    return frame.iloc[[r[2] for r in keep]].reset_index(drop=True)

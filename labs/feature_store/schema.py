"""The impression schema and the one timestamp rule every entry point applies.

**The timestamp rule.** Every timestamp the store accepts must be
timezone-aware (``datetime64[ns, UTC]``, ``datetime64[us, Europe/Berlin]``,
a ``datetime`` with ``tzinfo``...). Aware timestamps are converted to UTC and
kept at microsecond precision. A naive timestamp raises :class:`ValueError`
that says how to fix it (``.dt.tz_localize("UTC")``), because guessing the
zone of a naive value is how a feature ends up an hour in the future.

Internally, times are int64 **microseconds since the Unix epoch, UTC**
(``*_us`` names); that is what DuckDB compares and what the online stores keep.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

US_PER_S = 1_000_000

# The columns of the raw impression log the offline store keeps, with the dtype
# each is coerced to. ``p_click`` (ShopStream's hidden truth) is not among them:
# extra columns are reported as ignored, never stored.
IMPRESSION_SCHEMA: Mapping[str, str] = {
    "impression_id": "int64",
    "request_id": "int64",
    "user_id": "Int64",  # nullable on input, so a null can be quarantined
    "item_id": "int64",
    "position": "int32",
    "event_timestamp": "timestamp",
    "created_timestamp": "timestamp",
    "clicked": "int8",
}
TIMESTAMP_COLUMNS = ("event_timestamp", "created_timestamp")

NAIVE_FIX = (
    "timestamps must be timezone-aware; if the values are UTC, fix it with "
    "`df[col] = df[col].dt.tz_localize('UTC')` (or pass a datetime with tzinfo)"
)


def to_utc(values: pd.Series, name: str) -> pd.Series:
    """Apply the timestamp rule to a column: aware → UTC at microseconds.

    Raises:
        ValueError: if the column is not a timezone-aware datetime column.
    """
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        if pd.api.types.is_datetime64_dtype(values.dtype):
            raise ValueError(f"column {name!r} holds naive timestamps; {NAIVE_FIX}.")
        raise ValueError(
            f"column {name!r} must hold timezone-aware timestamps, got dtype "
            f"{values.dtype}; convert it with pd.to_datetime(..., utc=True)."
        )
    return values.dt.tz_convert("UTC").dt.as_unit("us")


def epoch_us(values: pd.Series, name: str) -> np.ndarray:
    """A timezone-aware column as int64 µs since the epoch (NaT → ``INT64_MIN``)."""
    return np.asarray(to_utc(values, name).array.asi8, dtype=np.int64)


def instant_us(value: Any, name: str) -> int:
    """One instant (datetime or pandas Timestamp, timezone-aware) as epoch µs.

    Raises:
        ValueError: if the value is naive or not a time.
    """
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None:
            raise ValueError(f"{name}={value!r} is naive; {NAIVE_FIX}.")
        return int(stamp.value) // 1_000  # .value is always nanoseconds
    raise ValueError(
        f"{name} must be a timezone-aware datetime, got {type(value).__name__} "
        f"{value!r}."
    )


def from_us(values: np.ndarray | int) -> pd.Series | pd.Timestamp:
    """Epoch µs back to UTC timestamps (a Series for arrays, a Timestamp for ints)."""
    if isinstance(values, (int, np.integer)):
        return pd.Timestamp(int(values), unit="us", tz="UTC")
    return pd.Series(pd.to_datetime(np.asarray(values), unit="us", utc=True))


def duration_us(value: dt.timedelta | pd.Timedelta, name: str) -> int:
    """A positive duration as integer microseconds."""
    if not isinstance(value, (dt.timedelta, pd.Timedelta)):
        raise ValueError(
            f"{name} must be a timedelta, got {type(value).__name__} {value!r}."
        )
    micros = int(pd.Timedelta(value).value // 1_000)
    if micros <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}.")
    return micros

"""A view's feature rows as arrays, read from a DataFrame or a Parquet file.

    rows = load_feature_rows("features/user_activity.parquet", "user_id", ["clicks_1h"])
    rows.ts_us, rows.created_us        # int64 µs since the epoch, UTC

The point-in-time join (``pit_join.py``) works on these arrays. Both sources
follow the store's timestamp rule (``schema.py``): timezone-aware in, epoch
µs inside, naive refused. A Parquet file may store its timestamps in
seconds, milliseconds, microseconds or nanoseconds (pandas writes
nanoseconds unless told otherwise); the raw integers mean different instants
in each, so they are converted by the unit the file declares, never read as
they are. Nanoseconds are floored to the microsecond, as pandas'
``as_unit("us")`` does for a DataFrame, so a file and the frame it was
written from join alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labs.feature_store.schema import NAIVE_FIX, epoch_us

TIMESTAMP = "event_timestamp"
CREATED = "created_timestamp"
# Microseconds per unit (a multiplier), or units per microsecond for ns.
US_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1}
INT64_MAX = np.iinfo(np.int64).max


@dataclass
class FeatureRows:
    """A view's feature rows as arrays, in source order.

    Attributes:
        key: the entity key per row, shape ``(n,)``.
        ts_us: ``event_timestamp`` (the feature time) per row, epoch µs.
        created_us: ``created_timestamp`` per row, epoch µs.
        values: float64 of shape ``(n, f)``, one column per feature.
        features: the ``f`` feature names.
    """

    key: pd.Series
    ts_us: np.ndarray
    created_us: np.ndarray
    values: np.ndarray
    features: tuple[str, ...]


def parquet_epoch_us(column: pa.ChunkedArray, name: str, path: Path) -> np.ndarray:
    """A Parquet timestamp column as int64 epoch µs, whatever unit the file uses.

    Arrow keeps an aware timestamp as the UTC instant in its unit, whatever
    the zone it names, so only the unit needs converting.

    Raises:
        ValueError: the column is not a timestamp, is naive (no time zone),
            holds nulls, or holds instants that do not fit int64 µs.
    """
    kind = column.type
    if not pa.types.is_timestamp(kind):
        raise ValueError(
            f"{path}: column {name!r} is {kind}, not a timestamp; write it as "
            "timezone-aware timestamps (pandas: pd.to_datetime(..., utc=True))."
        )
    if kind.tz is None:
        raise ValueError(
            f"{path}: column {name!r} holds naive timestamps (timestamp[{kind.unit}] "
            f"without a time zone); {NAIVE_FIX}, then write the file again."
        )
    if column.null_count:
        raise ValueError(
            f"{path}: column {name!r} has {column.null_count} null timestamps; "
            "every feature row needs a time."
        )
    raw = column.cast(pa.int64()).to_numpy()  # the instants, counted in kind.unit
    if kind.unit == "ns":
        return raw // 1_000  # floored, as pandas' as_unit("us") does
    factor = US_PER_UNIT[kind.unit]
    if factor > 1 and len(raw) and np.abs(raw).max() > INT64_MAX // factor:
        raise ValueError(
            f"{path}: column {name!r} (timestamp[{kind.unit}]) holds instants too "
            "far from 1970 to count in int64 microseconds; check the values."
        )
    return raw * factor


def load_feature_rows(
    source: pd.DataFrame | str | Path, entity: str, features: Sequence[str]
) -> FeatureRows:
    """Read feature rows (a DataFrame or a Parquet file) into :class:`FeatureRows`.

    Raises:
        ValueError: a needed column is missing, or a timestamp column breaks
            the timestamp rule (naive, not a timestamp, null).
    """
    needed = [entity, TIMESTAMP, CREATED, *features]
    if isinstance(source, pd.DataFrame):
        missing = [c for c in needed if c not in source.columns]
        if missing:
            raise ValueError(
                f"feature rows lack columns {missing}; they need {needed}."
            )
        for name in (TIMESTAMP, CREATED):
            if source[name].isna().any():
                raise ValueError(
                    f"feature rows have {int(source[name].isna().sum())} null "
                    f"{name!r} values; every feature row needs a time."
                )
        return FeatureRows(
            key=source[entity].reset_index(drop=True),
            ts_us=epoch_us(source[TIMESTAMP], TIMESTAMP),
            created_us=epoch_us(source[CREATED], CREATED),
            values=source[list(features)].to_numpy(dtype=np.float64, na_value=np.nan),
            features=tuple(features),
        )
    path = Path(source)
    present = set(pq.read_schema(path).names)
    missing = [c for c in needed if c not in present]
    if missing:
        raise ValueError(
            f"{path}: feature rows lack columns {missing}; they need {needed}."
        )
    table = pq.read_table(path, columns=needed)  # straight to numpy, no pandas
    values = np.empty((table.num_rows, len(features)))
    for j, name in enumerate(features):
        values[:, j] = table[name].to_numpy()  # nulls become NaN
    return FeatureRows(
        key=pd.Series(table[entity].to_numpy()),
        ts_us=parquet_epoch_us(table[TIMESTAMP], TIMESTAMP, path),
        created_us=parquet_epoch_us(table[CREATED], CREATED, path),
        values=values,
        features=tuple(features),
    )

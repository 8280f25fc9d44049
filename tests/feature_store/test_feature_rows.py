"""Feature rows from Parquet: timestamps in any unit and zone mean the same instants.

A Parquet file declares its timestamps' unit (ms, us, ns; pandas writes ns
unless told otherwise, and Arrow stores seconds as ms). Reading the raw integers as microseconds put every
feature row in the wrong year, and the join returned all nulls without an
error. These tests write the same rows in every unit and zone and join them
against a brute-force loop; naive and non-timestamp columns are refused with
a message naming the column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fs_helpers import HOUR_US, brute_as_of

from labs.feature_store import JoinSpec, point_in_time_join
from labs.feature_store.feature_rows import load_feature_rows

T0 = 1_709_546_400_000_000  # 2024-03-04 10:00 UTC in µs
TTL = 6 * HOUR_US
# Whole seconds, so every unit holds them exactly; hours apart, with a tie.
KEY = [1, 1, 2, 2, 2, 3]
TS = [
    T0 + h * HOUR_US + s * 1_000_000
    for h, s in [(0, 7), (3, 0), (1, 1), (1, 1), (4, 59), (2, 30)]
]
CREATED = [
    TS[-1] + HOUR_US,
    TS[-1] + HOUR_US,
    TS[-1],
    TS[-1] + 1_000_000,
    TS[-1],
    TS[-1],
]
VALUES = np.array([[10.0], [11.0], [20.0], [21.0], [22.0], [30.0]])
ENTITY = pd.DataFrame(
    {
        "user_id": [1, 1, 1, 2, 2, 3, 3, 4],
        "event_timestamp": pd.to_datetime(
            np.array([0, 2, 4, 2, 6, 2, 9, 3]) * HOUR_US + T0 + 3_600_000_000 // 2,
            unit="us",
            utc=True,
        ),
    }
)


def _write(path: Path, unit: str, tz: str | None, times=TS, created=CREATED) -> Path:
    """The rows as Parquet with timestamps of ``unit`` in zone ``tz``."""

    def stamps(us: list[int]) -> pa.Array:
        # Arrow keeps the UTC instant whatever the zone; only the unit scales it.
        scale = {"s": 1 / 1_000_000, "ms": 1 / 1_000, "us": 1, "ns": 1_000}[unit]
        raw = [round(t * scale) if scale >= 1 else t // round(1 / scale) for t in us]
        return pa.array(raw, pa.timestamp(unit, tz=tz))

    table = pa.table(
        {
            "user_id": pa.array(KEY, pa.int64()),
            "event_timestamp": stamps(times),
            "created_timestamp": stamps(created),
            "clicks": pa.array(VALUES[:, 0]),
        }
    )
    pq.write_table(table, path)
    return path


def _expected(entity_df: pd.DataFrame, ts=TS) -> np.ndarray:
    times = entity_df["event_timestamp"].dt.as_unit("us").array.asi8
    return np.array(
        [
            brute_as_of(KEY, ts, CREATED, VALUES, int(k), int(t), TTL)[0]
            for k, t in zip(entity_df["user_id"], times, strict=True)
        ]
    )


def _join(source: Path | pd.DataFrame, entity_df: pd.DataFrame = ENTITY) -> np.ndarray:
    out = point_in_time_join(
        entity_df, [JoinSpec("v", "user_id", ["clicks"], TTL, source)]
    )
    return out["v:clicks"].to_numpy()


@pytest.mark.given
@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"], ids=["utc", "zoned"])
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_every_unit_and_zone_joins_like_brute_force(tmp_path, unit, tz):
    path = _write(tmp_path / f"rows-{unit}.parquet", unit, tz)
    got = _join(path)
    expected = _expected(ENTITY)
    assert np.isfinite(expected).sum() >= 5  # the oracle finds rows: a real check
    np.testing.assert_array_equal(got, expected)
    rows = load_feature_rows(path, "user_id", ["clicks"])
    np.testing.assert_array_equal(rows.ts_us, TS)
    np.testing.assert_array_equal(rows.created_us, CREATED)


@pytest.mark.given
def test_nanoseconds_floor_to_the_microsecond_as_a_dataframe_does(tmp_path):
    """A row 999 ns past a query's microsecond is visible to it, from a file or a frame."""
    ns = [t * 1_000 + 999 for t in TS]
    table = pa.table(
        {
            "user_id": pa.array(KEY, pa.int64()),
            "event_timestamp": pa.array(ns, pa.timestamp("ns", tz="UTC")),
            "created_timestamp": pa.array(
                [c * 1_000 for c in CREATED], pa.timestamp("ns", tz="UTC")
            ),
            "clicks": pa.array(VALUES[:, 0]),
        }
    )
    pq.write_table(table, tmp_path / "ns.parquet")
    at_rows = pd.DataFrame(  # one query at each row's own microsecond
        {
            "user_id": KEY,
            "event_timestamp": pd.to_datetime(np.array(TS), unit="us", utc=True),
        }
    )
    from_file = _join(tmp_path / "ns.parquet", at_rows)
    from_frame = _join(table.to_pandas(), at_rows)
    np.testing.assert_array_equal(from_file, from_frame)
    np.testing.assert_array_equal(from_file, _expected(at_rows))


@pytest.mark.given
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_naive_timestamps_in_a_file_are_refused_with_the_fix(tmp_path, unit):
    path = _write(tmp_path / "naive.parquet", unit, None)
    shown = "ms" if unit == "s" else unit  # Parquet has no seconds: stored as ms
    with pytest.raises(
        ValueError,
        match=rf"'event_timestamp' holds naive timestamps \(timestamp\[{shown}\].*"
        r"tz_localize\('UTC'\)",
    ):
        _join(path)


@pytest.mark.given
def test_a_time_column_that_is_not_a_timestamp_is_refused(tmp_path):
    path = tmp_path / "ints.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": KEY,
                "event_timestamp": TS,  # epoch µs as plain integers
                "created_timestamp": pa.array(CREATED, pa.timestamp("us", tz="UTC")),
                "clicks": VALUES[:, 0],
            }
        ),
        path,
    )
    with pytest.raises(
        ValueError, match=r"'event_timestamp' is int64, not a timestamp"
    ):
        _join(path)

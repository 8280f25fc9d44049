"""m1: ingest validates every row, quarantines the bad ones with a reason, and
writes the rest to date-partitioned Parquet that DuckDB can query."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fs_helpers import brute_quarantine, utc
from hypothesis import given
from hypothesis import strategies as st

from common.shopstream import dirty_mask
from labs.feature_store import FeatureStore, OfflineStore, quarantine_reasons
from labs.feature_store.offline import coerce_batch

# ShopStream's planted defects and the quarantine reason each must get.
PLANTED = {
    "null_user": "null_value",
    "negative_position": "negative_position",
    "invalid_click": "invalid_clicked",
    "created_before_event": "created_before_event",
    "duplicate_id": "duplicate_impression_id",
}
KEY = ["impression_id", "created_timestamp"]


def test_ingest_accounts_for_every_row(tiny, tmp_path):
    report = OfflineStore(tmp_path).ingest(tiny.impressions)
    dirty = dirty_mask(tiny.impressions)
    assert report.input_rows == len(tiny.impressions)
    assert report.written_rows + report.quarantined_rows == report.input_rows
    assert report.written_rows == int((~dirty).sum())
    assert report.quarantined_rows == int(dirty.sum()) > 0
    assert report.ignored_columns == ["p_click"]  # the hidden truth is never stored


def test_quarantine_reasons_match_the_planted_defects(tiny, tmp_path):
    offline = OfflineStore(tmp_path)
    report = offline.ingest(tiny.impressions)
    planted = tiny.meta["counts"]["dirty_by_kind"]
    assert report.reasons == {PLANTED[k]: n for k, n in planted.items() if n}
    stored = offline.read_quarantine()
    assert stored["reason"].value_counts().to_dict() == report.reasons
    # Exactly the rows ShopStream marks dirty, identified by (id, created).
    dirty = tiny.impressions[dirty_mask(tiny.impressions)]
    expected = set(map(tuple, dirty[KEY].astype("int64").to_numpy().tolist()))
    got = set(map(tuple, stored[KEY].astype("int64").to_numpy().tolist()))
    assert got == expected


def test_written_rows_are_exactly_the_clean_rows(tiny, clean, tmp_path):
    offline = OfflineStore(tmp_path)
    offline.ingest(tiny.impressions)
    stored = offline.read_impressions()
    expected = clean[stored.columns].reset_index(drop=True)
    assert len(stored) == len(expected)
    for column in stored.columns:
        np.testing.assert_array_equal(
            stored[column].to_numpy(), expected[column].to_numpy(), err_msg=column
        )
    assert stored["user_id"].dtype == np.int64  # no nulls left, so a plain int


def test_partitions_hold_one_event_date_each(tiny, clean, tmp_path):
    offline = OfflineStore(tmp_path)
    report = offline.ingest(tiny.impressions)
    dates = clean["event_timestamp"].dt.strftime("%Y-%m-%d")
    assert report.partitions == sorted(dates.unique())
    for path in offline.files():
        date = path.parent.name.removeprefix("event_date=")
        table = pq.read_table(path).to_pandas()
        assert (table["event_timestamp"].dt.strftime("%Y-%m-%d") == date).all(), path
        assert table["event_timestamp"].is_monotonic_increasing, path
    counts = offline.query(
        "SELECT event_date, count(*) AS n FROM impressions GROUP BY 1 ORDER BY 1"
    )
    assert dict(zip(counts["event_date"].astype(str), counts["n"], strict=True)) == (
        dates.value_counts().sort_index().to_dict()
    )


def test_batches_ingested_in_turn_equal_one_batch(tiny, tmp_path):
    """Redelivered ids are caught across batches, and nothing is lost."""
    log = tiny.impressions  # in ingestion (created) order
    offline = OfflineStore(tmp_path / "split")
    half = len(log) // 2
    first, second = offline.ingest(log.iloc[:half]), offline.ingest(log.iloc[half:])
    whole = OfflineStore(tmp_path / "whole").ingest(log)
    assert first.written_rows + second.written_rows == whole.written_rows
    assert first.quarantined_rows + second.quarantined_rows == whole.quarantined_rows
    merged = pd.Series(first.reasons).add(pd.Series(second.reasons), fill_value=0)
    assert merged.astype(int).to_dict() == whole.reasons
    assert len(offline.impression_ids()) == len(np.unique(offline.impression_ids()))


def test_reingesting_a_batch_writes_nothing(tiny, tmp_path):
    offline = OfflineStore(tmp_path)
    once = offline.ingest(tiny.impressions)
    again = offline.ingest(tiny.impressions)
    assert again.written_rows == 0
    assert again.quarantined_rows == again.input_rows
    # Rows valid the first time are duplicates now; the bad ones keep their reason.
    assert again.reasons["duplicate_impression_id"] == (
        once.written_rows + once.reasons["duplicate_impression_id"]
    )
    assert len(offline.impression_ids()) == once.written_rows


def test_naive_timestamps_are_rejected_with_the_fix(tiny, tmp_path):
    raw = tiny.impressions.head(500).copy()
    for column in ("event_timestamp", "created_timestamp"):
        raw[column] = raw[column].dt.tz_localize(None)
    store = FeatureStore(tmp_path, online="memory")
    with pytest.raises(ValueError, match=r"naive.*tz_localize\('UTC'\)"):
        store.ingest(raw)
    assert store.offline.files() == []  # a rejected batch writes nothing
    for column in ("event_timestamp", "created_timestamp"):
        raw[column] = raw[column].dt.tz_localize("UTC")  # the fix the message names
    report = store.ingest(raw)
    assert report.written_rows + report.quarantined_rows == 500
    assert report.written_rows > 0


@pytest.mark.given
def test_missing_columns_are_named(tiny, tmp_path):
    raw = tiny.impressions.drop(columns=["clicked", "position"])
    with pytest.raises(
        ValueError, match=r"missing required columns \['position', 'clicked'\]"
    ):
        OfflineStore(tmp_path).ingest(raw)


def test_an_exact_tie_keeps_the_earlier_row_not_the_smaller_position(tmp_path):
    """Two deliveries of one id with the same created time: the first row is real.

    "First" is row order in the batch. The ``position`` column (the slot on
    the page) has nothing to do with it: here the later row has the smaller
    position, so sorting by that column keeps the wrong delivery.
    """
    t = utc("2024-03-04 12:00")
    raw = pd.DataFrame(
        {
            "impression_id": [7, 7, 8],
            "request_id": [1, 1, 2],
            "user_id": [10, 20, 30],
            "item_id": [1, 2, 3],
            "position": [5, 2, 0],
            "event_timestamp": [t] * 3,
            "created_timestamp": [t + pd.Timedelta(seconds=1)] * 3,
            "clicked": [0, 1, 0],
        }
    )
    batch, _ = coerce_batch(raw)
    reasons = quarantine_reasons(batch, np.empty(0, dtype=np.int64))
    assert list(reasons) == [None, "duplicate_impression_id", None]
    offline = OfflineStore(tmp_path)
    offline.ingest(raw)
    kept = offline.read_impressions()
    assert kept.set_index("impression_id").loc[7, "user_id"] == 10  # row 0, not row 1
    assert offline.read_quarantine()["user_id"].tolist() == [20]


# --- property test: the validator against a row-by-row oracle -------------------
T0 = utc("2024-03-04 12:00")
rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "impression_id": st.integers(0, 6),
            "request_id": st.integers(0, 3),
            "user_id": st.one_of(st.none(), st.integers(0, 3)),
            "item_id": st.one_of(st.integers(0, 3), st.none()),
            "position": st.integers(-2, 3),
            "event_min": st.integers(0, 3),
            "delay_min": st.integers(-2, 3),  # negative: created before event
            "clicked": st.sampled_from([0, 1, 2]),
        }
    ),
    min_size=1,
    max_size=25,
)


@given(rows=rows_strategy, stored=st.sets(st.integers(0, 6), max_size=3))
def test_quarantine_matches_brute_force(rows, stored):
    raw = pd.DataFrame(
        {
            "impression_id": [r["impression_id"] for r in rows],
            "request_id": [r["request_id"] for r in rows],
            "user_id": pd.array([r["user_id"] for r in rows], dtype="Int64"),
            "item_id": pd.array([r["item_id"] for r in rows], dtype="Int64"),
            "position": [r["position"] for r in rows],
            "event_timestamp": [
                T0 + pd.Timedelta(minutes=r["event_min"]) for r in rows
            ],
            "created_timestamp": [
                T0 + pd.Timedelta(minutes=r["event_min"] + r["delay_min"]) for r in rows
            ],
            "clicked": [r["clicked"] for r in rows],
        }
    )
    batch, _ = coerce_batch(raw)
    got = quarantine_reasons(batch, np.array(sorted(stored), dtype=np.int64))
    records = raw.astype(object).where(raw.notna(), None).to_dict("records")
    assert list(got) == brute_quarantine(records, stored)

"""m1 — the point-in-time training set and the time-based split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.shopstream import dirty_mask, load
from labs.training import build_training_set, label_frame, time_split

START = pd.Timestamp("2024-03-04", tz="UTC")


def brute_force_as_of(
    rows: pd.DataFrame, key: str, ttl: pd.Timedelta, k: int, t: pd.Timestamp
) -> pd.Series | None:
    """The feature row of entity ``k`` a request at ``t`` must see, by a plain scan."""
    best = None
    for _, row in rows[rows[key] == k].iterrows():
        if row["event_timestamp"] > t:
            continue
        rank = (row["event_timestamp"], row["created_timestamp"])
        if best is None or rank >= (best["event_timestamp"], best["created_timestamp"]):
            best = row  # later source rows win exact ties
    if best is None or best["event_timestamp"] < t - ttl:
        return None
    return best


def test_every_clean_impression_is_one_labelled_row(tiny_set) -> None:
    raw = load("tiny", seed=0).impressions
    clean = raw[~dirty_mask(raw)]
    frame = tiny_set.frame
    assert len(frame) == len(clean)
    assert frame["impression_id"].is_unique
    assert list(frame.columns[-len(tiny_set.features) :]) == tiny_set.features
    assert frame["event_timestamp"].is_monotonic_increasing
    truth = clean.set_index("impression_id")["clicked"]
    assert (
        frame["clicked"].to_numpy() == truth.loc[frame["impression_id"]].to_numpy()
    ).all()
    # Counts the store knows exactly are never null; rates may be.
    assert frame["user_activity:impressions_24h"].notna().all()


def test_features_match_a_brute_force_point_in_time_lookup(tiny_set, store) -> None:
    frame = tiny_set.frame
    sample = frame.sample(60, random_state=1)
    for view_name in ("user_activity", "item_stats"):
        view = store.views[view_name]
        rows = store.feature_rows(view_name)
        ttl = pd.Timedelta(microseconds=view.ttl_us)
        for _, label in sample.iterrows():
            expected = brute_force_as_of(
                rows, view.entity, ttl, label[view.entity], label["event_timestamp"]
            )
            for name in view.feature_names:
                got = label[f"{view_name}:{name}"]
                want = np.nan if expected is None else expected[name]
                assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(
                    want
                ), (view_name, name, label["impression_id"])


def test_join_keeps_rows_order_and_index(store) -> None:
    labels = label_frame(load("tiny", seed=0)).iloc[::-97].copy()  # reversed, sparse
    joined = build_training_set(
        store, labels, ["item_stats:ctr_24h", "user_activity:clicks_1h"]
    )
    assert joined.index.equals(labels.index)
    assert list(joined.columns) == [
        *labels.columns,
        "item_stats:ctr_24h",
        "user_activity:clicks_1h",
    ]
    assert (joined["clicked"] == labels["clicked"]).all()


def _check_order(splits, gap: pd.Timedelta) -> None:
    train, valid, test = (
        s["event_timestamp"] for s in (splits.train, splits.valid, splits.test)
    )
    assert train.max() < valid.min() and valid.max() < test.min()
    assert valid.min() - train.max() >= gap and test.min() - valid.max() >= gap
    assert train.max() < splits.cuts[0] <= valid.min() - gap


@given(
    offsets=st.lists(st.integers(0, 400), min_size=12, max_size=300),
    first=st.floats(0.2, 0.7),
    second=st.floats(0.1, 0.25),
    gap_s=st.sampled_from([0, 1, 7, 30]),
)
def test_no_row_of_a_later_split_precedes_an_earlier_one(
    offsets, first, second, gap_s
) -> None:
    frame = pd.DataFrame(
        {
            "impression_id": np.arange(len(offsets)),
            "event_timestamp": START + pd.to_timedelta(offsets, unit="s"),  # many ties
        }
    ).sample(frac=1.0, random_state=0)  # any input order
    fractions = (first, second, 1.0 - first - second)
    gap = pd.Timedelta(seconds=gap_s)
    try:
        splits = time_split(frame, fractions, gap=gap)
    except ValueError as exc:
        assert "empty" in str(exc)  # too few distinct times for three splits
        return
    _check_order(splits, gap)
    ids = np.concatenate(
        [
            s["impression_id"].to_numpy()
            for s in (splits.train, splits.valid, splits.test)
        ]
    )
    assert len(ids) == len(set(ids)) and len(ids) + splits.dropped == len(frame)
    # The cuts are the sorted times at the fractions' positions, whatever the
    # order the rows arrive in.
    n = len(frame)
    ordered = frame["event_timestamp"].sort_values().reset_index(drop=True)
    t1, t2 = splits.cuts
    assert t1 == ordered[min(int(first * n), n - 1)], "t1 is not the cut time"
    assert t2 == ordered[min(int((first + second) * n), n - 1)], "t2 is not the cut"
    times = frame.set_index("impression_id")["event_timestamp"]
    rules = {
        "train": times < t1,
        "valid": (times >= t1 + gap) & (times < t2),
        "test": times >= t2 + gap,
    }
    for name, rule in rules.items():
        got = set(getattr(splits, name)["impression_id"])
        assert got == set(times.index[rule.to_numpy()]), f"{name} holds the wrong rows"
    in_gaps = ((times >= t1) & (times < t1 + gap)) | (
        (times >= t2) & (times < t2 + gap)
    )
    assert splits.dropped == int(in_gaps.sum())


def test_tiny_split_sizes_follow_the_fractions(tiny_set, splits) -> None:
    n = len(tiny_set.frame)
    sizes = splits.sizes()
    assert sum(sizes.values()) == n and splits.dropped == 0
    for name, share in zip(("train", "valid", "test"), (0.7, 0.15, 0.15), strict=True):
        assert abs(sizes[name] - share * n) <= 0.01 * n, (name, sizes)
    _check_order(splits, pd.Timedelta(0))


def test_gap_drops_and_counts_rows(tiny_set) -> None:
    gap = pd.Timedelta("30min")
    splits = time_split(tiny_set.frame, (0.6, 0.2, 0.2), gap=gap)
    _check_order(splits, gap)
    assert splits.dropped > 0
    assert sum(splits.sizes().values()) + splits.dropped == len(tiny_set.frame)


@pytest.mark.given
def test_bad_split_arguments_say_what_is_wrong(tiny_set) -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        time_split(tiny_set.frame, (0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="gap"):
        time_split(tiny_set.frame, gap="-1min")
    naive = tiny_set.frame.assign(
        event_timestamp=tiny_set.frame["event_timestamp"].dt.tz_localize(None)
    )
    with pytest.raises(ValueError, match="tz_localize"):
        time_split(naive)

"""m2: windowed aggregations as of each event time, from rows that had arrived."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fs_helpers import HOUR_US, brute_window_sum, micros, utc
from hypothesis import given
from hypothesis import strategies as st

from common.shopstream import point_in_time_sum
from labs.feature_store import (
    Aggregation,
    FeatureStore,
    FeatureView,
    ItemCategories,
    compute_view,
    default_views,
    windowed_sum,
    with_keys,
)

VIEWS = {v.name: v for v in default_views()}

rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),  # key
        st.integers(0, 12),  # event time (coarse: exact window edges happen)
        st.sampled_from([0, 1, 2, 5, 9]),  # arrival delay (some beyond the window)
        st.integers(-3, 3),  # value
    ),
    max_size=30,
)
queries_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 20)),
    min_size=1,
    max_size=15,
)


@given(rows=rows_strategy, queries=queries_strategy, window=st.integers(1, 6))
def test_windowed_sum_matches_brute_force(rows, queries, window):
    key = np.array([r[0] for r in rows], dtype=object)
    event = np.array([r[1] for r in rows], dtype=np.int64)
    created = event + np.array([r[2] for r in rows], dtype=np.int64)
    value = np.array([r[3] for r in rows], dtype=np.float64)
    q_key = np.array([q[0] for q in queries], dtype=object)
    q_t = np.array([q[1] for q in queries], dtype=np.int64)
    got = windowed_sum(key, event, created, value, q_key, q_t, window)
    for i, (k, t) in enumerate(queries):
        assert got[i] == brute_window_sum(key, event, created, value, k, t, window), (
            k,
            t,
        )


@given(
    rows=rows_strategy,
    queries=queries_strategy,
    window=st.integers(1, 6),
    weights=st.lists(st.sampled_from([0.1, 0.2, 0.7, 1.3]), min_size=30, max_size=30),
)
def test_windowed_sum_of_floats_matches_brute_force(rows, queries, window, weights):
    """Float values: close to the loop, and exactly 0.0 where the window is empty."""
    key = np.array([r[0] for r in rows], dtype=object)
    event = np.array([r[1] for r in rows], dtype=np.int64)
    created = event + np.array([r[2] for r in rows], dtype=np.int64)
    value = np.array(weights[: len(rows)], dtype=np.float64)  # all > 0
    q_key = np.array([q[0] for q in queries], dtype=object)
    q_t = np.array([q[1] for q in queries], dtype=np.int64)
    got = windowed_sum(key, event, created, value, q_key, q_t, window)
    for i, (k, t) in enumerate(queries):
        expected = brute_window_sum(key, event, created, value, k, t, window)
        if expected == 0.0:  # no row in the window: no residue either
            assert got[i] == 0.0, f"query {k, t}: {got[i]!r} for an empty window"
        else:
            np.testing.assert_allclose(got[i], expected, rtol=1e-9, err_msg=(k, t))


def test_a_window_emptied_by_expiry_sums_to_exactly_zero():
    """Running sums of floats leave residue (2.8e-17); an empty window must be 0.0."""
    rng = np.random.default_rng(0)
    n = 300
    key = rng.integers(0, 5, n)
    event = rng.integers(0, 100, n)
    created = event + rng.integers(0, 30, n)
    value = rng.random(n)  # prices, scores: not integers
    q_key = np.repeat(np.arange(5), 4)
    q_t = np.tile([50, 105, 120, 300], 5)  # 300: every row has left the window
    got = windowed_sum(key, event, created, value, q_key, q_t, 10)
    expected = np.array(
        [
            brute_window_sum(key, event, created, value, k, t, 10)
            for k, t in zip(q_key, q_t, strict=True)
        ]
    )
    empty = expected == 0.0
    assert empty.sum() >= 5  # the windows at t=300, at least
    np.testing.assert_array_equal(got[empty], 0.0)
    np.testing.assert_allclose(got[~empty], expected[~empty], rtol=1e-9)


def test_windowed_sum_adds_several_columns_at_once():
    key = np.array([1, 1, 2, 1])
    event = np.array([0, 5, 5, 9])
    created = event + np.array([1, 1, 1, 20])  # the last row arrives after its window
    value = np.column_stack([np.ones(4), [1.0, 0.0, 1.0, 1.0]])
    q_key, q_t = np.array([1, 1, 1, 1, 2]), np.array([6, 15, 25, 29, 6])
    got = windowed_sum(key, event, created, value, q_key, q_t, 10)
    # t=6: rows 0, 1. t=15: row 1 (row 3 not arrived). t=25: row 3's event left
    # the window at 19, before it arrived: never added, so never subtracted.
    # t=29: row 3 arrived, too late to count.
    np.testing.assert_array_equal(
        got, [[2.0, 1.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    )


def test_a_late_click_is_invisible_until_it_arrives():
    """Event at 10:00 logged at 15:00: a 24 h window counts it only from 15:00 on."""
    event = micros(pd.Series([utc("2024-03-04 10:00")]))
    created = micros(pd.Series([utc("2024-03-04 15:00")]))
    times = micros(
        pd.Series(
            [
                utc(t)
                for t in (
                    "2024-03-04 12:00",
                    "2024-03-04 15:00",
                    "2024-03-05 10:00",
                    "2024-03-05 10:00:00.000001",
                )
            ]
        )
    )
    got = windowed_sum(
        np.array([7]), event, created, np.ones(1), np.full(4, 7), times, 24 * HOUR_US
    )
    np.testing.assert_array_equal(
        got, [0.0, 1.0, 1.0, 0.0]
    )  # window edge t - w <= event


def test_user_view_matches_brute_force_on_tiny(clean):
    """Each sampled feature row recomputed from its definition with a full scan."""
    view = VIEWS["user_activity"]
    rows = compute_view(view, clean, computed_at_us=0)
    key, event = clean["user_id"].to_numpy(), micros(clean["event_timestamp"])
    created, clicked = (
        micros(clean["created_timestamp"]),
        clean["clicked"].to_numpy(float),
    )
    sample = rows.sample(200, random_state=0)
    for user, t, (_, row) in zip(
        sample["user_id"],
        micros(sample["event_timestamp"]),
        sample.iterrows(),
        strict=True,
    ):
        for agg in view.aggregations:
            arrived = (key == user) & (t - agg.window_us <= event) & (created <= t)
            count, clicks = arrived.sum(), clicked[arrived].sum()
            expected = {"count": count, "sum": clicks}.get(
                agg.function, clicks / count if count else np.nan
            )
            np.testing.assert_allclose(row[agg.name], expected, err_msg=agg.name)


def test_item_view_agrees_with_the_shopstream_helper(clean):
    """An independent vectorised oracle over every row: common.shopstream.point_in_time_sum."""
    view = VIEWS["item_stats"]
    rows = compute_view(view, clean, computed_at_us=0)
    key, event = clean["item_id"].to_numpy(), micros(clean["event_timestamp"])
    created, clicked = micros(clean["created_timestamp"]), clean["clicked"].to_numpy()
    at = pd.DataFrame({"item_id": key, "ts": event})
    at["impressions_24h"] = point_in_time_sum(
        key, event, created, np.ones(len(key)), 24 * HOUR_US
    )
    at["clicks_24h"] = point_in_time_sum(key, event, created, clicked, 24 * HOUR_US)
    at["impressions_1h"] = point_in_time_sum(
        key, event, created, np.ones(len(key)), HOUR_US
    )
    rows = rows.assign(ts=micros(rows["event_timestamp"]))
    joined = at.merge(rows, on=["item_id", "ts"], suffixes=("_oracle", ""))
    assert len(joined) == len(at)
    for name in ("impressions_24h", "clicks_24h", "impressions_1h"):
        np.testing.assert_array_equal(
            joined[name], joined[f"{name}_oracle"], err_msg=name
        )
    ctr = joined["clicks_24h_oracle"] / joined["impressions_24h_oracle"]
    np.testing.assert_allclose(
        joined["ctr_24h"], ctr.where(joined["impressions_24h_oracle"] > 0)
    )


def test_one_feature_row_per_entity_and_event_time(clean, tiny):
    items = ItemCategories.from_items(tiny.items)
    for view in VIEWS.values():
        events = with_keys(clean, [view.entity], items)  # user_category: keys.py
        rows = compute_view(view, events, computed_at_us=123)
        pairs = events[[view.entity, "event_timestamp"]].drop_duplicates()
        assert len(rows) == len(pairs), view.name
        assert list(rows.columns) == [
            view.entity,
            "event_timestamp",
            "created_timestamp",
            *view.feature_names,
        ]
        order = rows.sort_values([view.entity, "event_timestamp"], kind="stable")
        assert (order.index == rows.index).all()  # sorted by entity, then time
        assert (micros(rows["created_timestamp"]) == 123).all()
        assert str(rows["event_timestamp"].dtype) == "datetime64[us, UTC]"


def test_a_row_never_sees_itself():
    events = pd.DataFrame(
        {
            "user_id": [5],
            "event_timestamp": [utc("2024-03-04 10:00")],
            "created_timestamp": [utc("2024-03-04 10:00:01")],
            "clicked": [1],
        }
    )
    row = compute_view(VIEWS["user_activity"], events, computed_at_us=0).iloc[0]
    assert row["clicks_1h"] == 0 and row["impressions_24h"] == 0
    assert np.isnan(row["ctr_24h"])  # a mean over no rows is null, not 0


def test_custom_view_and_store_staleness(tiny, tmp_path):
    view = FeatureView(
        name="user_positions",
        entity="user_id",
        ttl=pd.Timedelta(hours=6),
        aggregations=(
            Aggregation(
                "mean_position_6h", "mean", pd.Timedelta(hours=6), column="position"
            ),
        ),
    )
    store = FeatureStore(tmp_path, views=[view], online="memory")
    store.ingest(tiny.impressions.iloc[:20_000])
    counts = store.compute_views()
    assert store.views_current()
    rows = store.feature_rows("user_positions")
    assert counts == {"user_positions": len(rows)} and len(rows) > 0
    means = rows["mean_position_6h"]
    assert means.dropna().between(0, 9).all() and means.notna().any()
    assert means.isna().any()  # a user's first event has no earlier rows
    store.ingest(tiny.impressions.iloc[20_000:])  # new data: the rows are stale
    assert not store.views_current()
    assert len(store.feature_rows("user_positions")) > len(rows)  # recomputed on read


@pytest.mark.given
def test_view_definitions_are_checked():
    with pytest.raises(ValueError, match="needs a column"):
        Aggregation("ctr", "mean", pd.Timedelta(hours=1))
    with pytest.raises(ValueError, match="'price' is not in source"):
        FeatureView(
            "v",
            "user_id",
            (Aggregation("p", "sum", pd.Timedelta(hours=1), column="price"),),
            pd.Timedelta(hours=1),
        )

"""m3: the point-in-time join equals a brute-force as-of lookup, ties, TTL edges and all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fs_helpers import HOUR_US, brute_as_of, from_micros, micros, scan_as_of, utc
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.feature_store import JoinSpec, point_in_time_join
from labs.feature_store.pit_join import (
    PROBE_LIMIT,
    FeatureRows,
    SplitIndex,
    as_of_lookup,
    build_index,
)

T0 = 1_709_546_400_000_000  # 2024-03-04 10:00 UTC in µs

feature_rows = st.lists(
    st.tuples(
        st.sampled_from([1, 2, 3]),  # key
        st.integers(0, 10),  # feature time: a coarse grid, so exact ties happen
        st.integers(0, 2),  # created: ties within ties, too
    ),
    max_size=25,
)
queries = st.lists(
    st.tuples(st.sampled_from([1, 2, 3, 4, None]), st.integers(0, 12)),
    min_size=1,
    max_size=20,
)


@pytest.mark.parametrize("as_text", [False, True], ids=["int-keys", "str-keys"])
@given(rows=feature_rows, qs=queries, ttl=st.integers(1, 6))
def test_as_of_lookup_matches_brute_force(as_text, rows, qs, ttl):
    if as_text:  # keys that are not integers take the factorised path
        rows = [(f"k{r[0]}", *r[1:]) for r in rows]
        qs = [(None if q[0] is None else f"k{q[0]}", q[1]) for q in qs]
    key = [r[0] for r in rows]
    ts = np.array([r[1] for r in rows], dtype=np.int64)
    created = np.array([r[2] for r in rows], dtype=np.int64)
    values = np.column_stack(
        [np.arange(len(rows), dtype=float), -np.arange(len(rows), dtype=float)]
    )
    q_key = pd.Series([q[0] for q in qs], dtype=object if as_text else "Int64")
    q_t = np.array([q[1] for q in qs], dtype=np.int64)
    rows_ = FeatureRows(
        pd.Series(key, dtype=object if as_text else "int64"),
        ts,
        created,
        values.reshape(len(rows), 2),
        ("a", "b"),
    )
    got = as_of_lookup(build_index(rows_), q_key, q_t, ttl)
    assert got.shape == (len(qs), 2)
    for i, (k, t) in enumerate(qs):
        expected = brute_as_of(
            key, ts, created, values.reshape(len(rows), 2), k, t, ttl
        )
        np.testing.assert_array_equal(got[i], expected, err_msg=f"query {k, t}")


def test_sorted_rows_with_an_exact_tie_take_the_larger_created():
    """Rows already in (entity, time) order, as the store writes them, with a tie.

    A recomputed row (same entity and time, created later) may come first in
    the source; it still wins. Sorted input is no licence to skip the tie-break.
    """
    rows = FeatureRows(
        pd.Series([1, 1, 1, 2], dtype="int64"),
        np.array([3, 5, 5, 5], dtype=np.int64),
        np.array([0, 9, 4, 0], dtype=np.int64),  # row 1 is the recomputation
        np.array([[10.0], [11.0], [12.0], [20.0]]),
        ("f",),
    )
    got = as_of_lookup(
        build_index(rows), pd.Series([1, 1, 2], dtype="Int64"), np.array([4, 6, 6]), 10
    )
    np.testing.assert_array_equal(got[:, 0], [10.0, 11.0, 20.0])


# Keys and times far apart, so keys × time span passes 2**62: 16 keys 2**40
# apart and a feature-time grid of 2**56 µs. Up to 6 distinct keys fit one
# probe once only the distinct keys are numbered; 7 or more need the split.
WIDE_KEY, WIDE_T = 2**40, 2**56


@settings(max_examples=60)
@pytest.mark.parametrize("as_text", [False, True], ids=["int-keys", "str-keys"])
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 15), st.integers(0, 10), st.integers(0, 2)),
        max_size=40,
    ),
    qs=st.lists(
        st.tuples(st.sampled_from([*range(17), None]), st.integers(0, 12)),
        min_size=1,
        max_size=20,
    ),
    ttl=st.integers(1, 6),
)
def test_keys_times_span_past_2_62_match_brute_force(as_text, rows, qs, ttl):
    name = (lambda k: f"k{k}") if as_text else (lambda k: k * WIDE_KEY)
    key = [name(r[0]) for r in rows]
    ts = np.array([r[1] * WIDE_T for r in rows], dtype=np.int64)
    created = np.array([r[2] for r in rows], dtype=np.int64)
    values = np.arange(len(rows), dtype=float).reshape(-1, 1)
    q_key = pd.Series(
        [None if q[0] is None else name(q[0]) for q in qs],
        dtype=object if as_text else "Int64",
    )
    q_t = np.array([q[1] * WIDE_T for q in qs], dtype=np.int64)
    rows_ = FeatureRows(
        pd.Series(key, dtype=object if as_text else "int64"),
        ts,
        created,
        values,
        ("a",),
    )
    got = as_of_lookup(build_index(rows_), q_key, q_t, ttl * WIDE_T)
    for i, (k, t) in enumerate(qs):
        k = None if k is None else name(k)
        expected = brute_as_of(key, ts, created, values, k, t * WIDE_T, ttl * WIDE_T)
        np.testing.assert_array_equal(got[i], expected, err_msg=f"query {k, t}")


def test_sixteen_keys_over_a_wide_span_split_the_index_and_still_join_right():
    """16 distinct keys × 2**59 µs > 2**62: the index is split; every answer is exact."""
    keys = np.repeat(np.arange(16) * WIDE_KEY, 3)
    ts = np.tile([0, 5 * WIDE_T, 10 * WIDE_T], 16)
    rows = FeatureRows(
        pd.Series(keys),
        ts.astype(np.int64),
        np.zeros(len(ts), dtype=np.int64),
        np.arange(len(ts), dtype=float).reshape(-1, 1),
        ("a",),
    )
    assert 16 * (int(ts.max()) + 2) >= PROBE_LIMIT  # past what one probe holds
    index = build_index(rows)
    assert isinstance(index, SplitIndex) and len(index.parts) > 1
    q_key = pd.Series(np.repeat(keys[::3], 4))
    q_t = np.tile([WIDE_T, 6 * WIDE_T, 10 * WIDE_T, 12 * WIDE_T], 16)
    got = as_of_lookup(index, q_key, q_t.astype(np.int64), 3 * WIDE_T)
    for i, (k, t) in enumerate(zip(q_key, q_t, strict=True)):
        expected = brute_as_of(
            list(keys), ts, rows.created_us, rows.values, k, t, 3 * WIDE_T
        )
        np.testing.assert_array_equal(got[i], expected, err_msg=f"query {k, t}")


def test_pair_keys_over_two_weeks_join_right():
    """ShopStream large's shape: user · 100 + category keys over 14 days of µs.

    The keys' range (6M) times the span (1.2e12 µs) passes 2**62, which once
    stopped the join with an OverflowError.
    """
    rng = np.random.default_rng(7)
    pairs = rng.choice(60_000, 40, replace=False) * 100 + rng.integers(0, 40, 40)
    pairs[:2] = [100, 59_999 * 100 + 39]  # the whole range
    n, days_us = 300, 14 * 24 * HOUR_US
    rows = pd.DataFrame(
        {
            "user_category": rng.choice(pairs, n),
            "event_timestamp": from_micros(T0 + rng.integers(0, days_us, n)),
            "created_timestamp": from_micros([T0 + days_us] * n),
            "f": rng.random(n),
        }
    )
    entity_df = pd.DataFrame(
        {
            "user_category": np.append(rng.choice(pairs, 199), 5),  # 5: unknown
            "event_timestamp": from_micros(T0 + rng.integers(0, days_us, 200)),
        }
    )
    ttl = 48 * HOUR_US
    out = point_in_time_join(
        entity_df, [JoinSpec("pair", "user_category", ["f"], ttl, rows)]
    )
    ts, created = micros(rows["event_timestamp"]), micros(rows["created_timestamp"])
    values = rows[["f"]].to_numpy()
    for k, t, got in zip(
        entity_df["user_category"],
        micros(entity_df["event_timestamp"]),
        out["pair:f"],
        strict=True,
    ):
        expected = brute_as_of(
            list(rows["user_category"]), ts, created, values, k, t, ttl
        )
        np.testing.assert_array_equal(got, expected[0])


def _frame(rows: list[tuple], key: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            key: [r[0] for r in rows],
            "event_timestamp": from_micros([T0 + r[1] * HOUR_US for r in rows]),
            "created_timestamp": from_micros([T0 + r[2] * HOUR_US for r in rows]),
            "f": np.arange(len(rows), dtype=float),
        }
    )


@settings(max_examples=30)
@given(
    user_rows=feature_rows,
    item_rows=feature_rows,
    entity=st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3, 4]),
            st.sampled_from([1, 2, 3]),
            st.integers(0, 12),
        ),
        min_size=1,
        max_size=20,
    ),
)
def test_join_of_two_views_matches_brute_force(user_rows, item_rows, entity):
    users, items = _frame(user_rows, "user_id"), _frame(item_rows, "item_id")
    entity_df = pd.DataFrame(
        {
            "user_id": [e[0] for e in entity],
            "item_id": [e[1] for e in entity],
            "event_timestamp": from_micros([T0 + e[2] * HOUR_US for e in entity]),
            "label": np.arange(len(entity)),
        },
        index=np.arange(len(entity))[::-1] * 10,  # an arbitrary index survives
    )
    specs = [
        JoinSpec("u", "user_id", ["f"], 3 * HOUR_US, users),
        JoinSpec("i", "item_id", ["f"], 5 * HOUR_US, items),
    ]
    out = point_in_time_join(entity_df, specs)
    assert list(out.index) == list(entity_df.index)
    assert list(out.columns) == [*entity_df.columns, "u:f", "i:f"]
    pd.testing.assert_frame_equal(out[entity_df.columns], entity_df)
    for frame, spec in ((users, specs[0]), (items, specs[1])):
        ts, created = (
            micros(frame["event_timestamp"]),
            micros(frame["created_timestamp"]),
        )
        values = frame[["f"]].to_numpy()
        for k, t, got in zip(
            entity_df[spec.entity],
            micros(entity_df["event_timestamp"]),
            out[f"{spec.name}:f"],
            strict=True,
        ):
            expected = brute_as_of(
                list(frame[spec.entity]), ts, created, values, k, t, spec.ttl_us
            )
            np.testing.assert_array_equal(got, expected[0])


def test_ttl_counts_back_from_each_row():
    """TTL 2 h, label at 11:00: a row at 08:00 is too old, one at exactly 09:00 is not."""
    rows = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 3],
            "event_timestamp": [
                utc("2024-03-04 08:00"),
                utc("2024-03-04 09:00"),
                utc("2024-03-04 11:00"),
                utc("2024-03-04 11:00:00.000001"),
            ],
            "created_timestamp": [utc("2024-03-04 12:00")] * 4,
            "clicks": [10.0, 20.0, 30.0, 99.0],
        }
    )
    entity_df = pd.DataFrame(
        {"user_id": [1, 2, 3], "event_timestamp": [utc("2024-03-04 11:00")] * 3}
    )
    out = point_in_time_join(
        entity_df, [JoinSpec("v", "user_id", ["clicks"], 2 * HOUR_US, rows)]
    )
    np.testing.assert_array_equal(
        out["v:clicks"], [np.nan, 20.0, 30.0]
    )  # never the future 99


def test_historical_features_on_tiny_match_brute_force(make_store, clean):
    store = make_store("memory")
    entity_df = clean.sample(300, random_state=1)[
        ["user_id", "item_id", "event_timestamp", "clicked"]
    ]
    extra = pd.DataFrame(
        {
            "user_id": pd.array(
                [None, 999_999, clean["user_id"].iloc[0]], dtype="Int64"
            ),
            "item_id": [0, 1, 2],
            "event_timestamp": [
                utc("2024-03-05 12:00"),
                utc("2024-03-05 12:00"),
                utc("2024-03-10"),
            ],
            "clicked": [0, 0, 0],
        }
    )
    entity_df = pd.concat(
        [entity_df.astype({"user_id": "Int64"}), extra], ignore_index=True
    )
    features = store.feature_names()
    out = store.get_historical_features(entity_df, features)
    assert len(out) == len(entity_df) and list(out.columns) == [
        *entity_df.columns,
        *features,
    ]
    keyed = store.with_keys(entity_df)  # adds the derived user_category key
    for view in store.views.values():
        rows = store.feature_rows(view.name)
        ts, created = micros(rows["event_timestamp"]), micros(rows["created_timestamp"])
        values, keys = rows[view.feature_names].to_numpy(), rows[view.entity].to_numpy()
        got = out[[view.ref(f) for f in view.feature_names]].to_numpy(float)
        for i, (k, t) in enumerate(
            zip(
                keyed[view.entity],
                micros(entity_df["event_timestamp"]),
                strict=True,
            )
        ):
            k = None if pd.isna(k) else k if isinstance(k, str) else int(k)
            expected = scan_as_of(keys, ts, created, values, k, t, view.ttl_us)
            np.testing.assert_array_equal(
                got[i], expected, err_msg=f"{view.name} row {i}"
            )
    user = [f for f in features if f.startswith("user_activity:")]
    assert out.iloc[-3:][user].isna().all().all()  # null, unknown, idle past the TTL
    pair = [f for f in features if f.startswith("user_category:")]
    assert out.iloc[-3:-1][pair].isna().all().all()  # null and unknown user


def test_defaults_fill_only_the_nulls(make_store, clean):
    store = make_store("memory")
    entity_df = clean[["user_id", "event_timestamp"]].head(200)
    features = ["user_activity:clicks_24h", "user_activity:ctr_24h"]
    raw = store.get_historical_features(entity_df, features)
    filled = store.get_historical_features(
        entity_df, features, defaults={"user_activity:ctr_24h": 0.05}
    )
    nulls = raw["user_activity:ctr_24h"].isna()
    assert nulls.any() and not filled["user_activity:ctr_24h"].isna().any()
    assert (filled.loc[nulls, "user_activity:ctr_24h"] == 0.05).all()
    pd.testing.assert_series_equal(
        filled.loc[~nulls, "user_activity:ctr_24h"],
        raw.loc[~nulls, "user_activity:ctr_24h"],
    )
    assert store.default_values(features) == {"user_activity:clicks_24h": 0.0}


def test_naive_entity_timestamps_are_rejected_with_the_fix(make_store, clean):
    store = make_store("memory")
    entity_df = clean[["user_id", "event_timestamp"]].head(50).copy()
    entity_df["event_timestamp"] = entity_df["event_timestamp"].dt.tz_localize(None)
    with pytest.raises(ValueError, match=r"naive.*tz_localize\('UTC'\)"):
        store.get_historical_features(entity_df, ["user_activity:clicks_1h"])
    entity_df["event_timestamp"] = entity_df["event_timestamp"].dt.tz_localize("UTC")
    out = store.get_historical_features(entity_df, ["user_activity:clicks_1h"])
    assert out["user_activity:clicks_1h"].notna().all()
    # Any zone works: aware timestamps are compared as instants.
    berlin = entity_df.assign(
        event_timestamp=entity_df["event_timestamp"].dt.tz_convert("Europe/Berlin")
    )
    np.testing.assert_array_equal(
        store.get_historical_features(berlin, ["user_activity:clicks_1h"])[
            "user_activity:clicks_1h"
        ],
        out["user_activity:clicks_1h"],
    )


@pytest.mark.given
def test_bad_requests_name_what_is_wrong(make_store, clean):
    store = make_store("memory")
    entity_df = clean[["user_id", "event_timestamp"]].head(5)
    with pytest.raises(
        ValueError,
        match=r"unknown feature 'user_activity:clicks_2h'.*user_activity:clicks_1h",
    ):
        store.get_historical_features(entity_df, ["user_activity:clicks_2h"])
    with pytest.raises(ValueError, match="no 'event_timestamp' column"):
        store.get_historical_features(
            entity_df[["user_id"]], ["user_activity:clicks_1h"]
        )
    with pytest.raises(ValueError, match="no 'item_id' column"):
        store.get_historical_features(entity_df, ["item_stats:ctr_24h"])

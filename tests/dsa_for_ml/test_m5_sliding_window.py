"""m5 — streaming sliding-window counts against a brute-force scan and against
the feature store's batch aggregation (``windows.windowed_sum``, ``compute_view``).

The scan counts, for a query ``(k, t)``, the events of ``k`` that arrived by
``t`` with ``t − w ≤ event``: the definition, with no data structure at all.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labs.dsa_for_ml.sliding_window import SlidingWindowCounter, WindowValue, replay
from labs.feature_store.windows import windowed_sum

HOUR, DAY = 3_600_000_000, 86_400_000_000


def test_the_window_bounds_are_inclusive():
    counter = SlidingWindowCounter(10)
    counter.add("k", event_us=5, arrival_us=5)
    counter.add("k", event_us=3, arrival_us=12)  # late, still inside [2, 12]
    assert counter.count("k", 12) == 2
    assert counter.count("k", 13) == 2  # 3 >= 13 - 10
    assert counter.count("k", 14) == 1  # 3 < 4: gone
    assert counter.count("k", 15) == 1  # 5 >= 5
    assert counter.count("k", 16) == 0
    assert not counter.add("k", event_us=5, arrival_us=16)  # 5 < 16 - 10: dropped
    assert counter.count("k", 16) == 0 and counter.dropped_late == 1


def test_an_emptied_window_sums_to_exactly_zero():
    """0.1 + 0.2 + 0.3 - 0.1 - 0.2 - 0.3 is 5.6e-17 in floating point: a window
    with no events must still read 0.0, as the batch path does."""
    counter = SlidingWindowCounter(10)
    for t, value in [(0, 0.1), (1, 0.2), (2, 0.3)]:
        counter.add("k", event_us=t, arrival_us=t, value=value)
    assert counter.query("k", 2).total == pytest.approx(0.6)
    assert counter.query("k", 11).total == pytest.approx(0.5)  # 0.1 expired
    assert counter.query("k", 100) == WindowValue(0, 0.0)  # exactly 0.0
    # The key refills from a clean zero.
    counter.add("k", event_us=100, arrival_us=100, value=0.7)
    assert counter.query("k", 100) == WindowValue(1, 0.7)


@given(
    values=st.lists(
        st.floats(-1e6, 1e6, allow_nan=False).filter(lambda v: v != 0),
        min_size=1,
        max_size=30,
    ),
    gaps=st.lists(st.integers(0, 3), min_size=30, max_size=30),
)
def test_a_window_emptied_by_any_float_values_reads_zero(values, gaps):
    counter = SlidingWindowCounter(5)
    t = 0
    for value, gap in zip(values, gaps, strict=False):
        t += gap
        counter.add("k", event_us=t, arrival_us=t, value=value)
        live = counter.query("k", t)
        assert live.count >= 1
    assert counter.query("k", t + 6) == WindowValue(0, 0.0)


# A stream step: ("event", key, lateness, value) or ("query", key), each after a gap.
STEPS = st.lists(
    st.tuples(
        st.integers(0, 7),  # gap in time units before this step
        st.sampled_from(["event", "event", "query"]),
        st.sampled_from("abc"),
        st.integers(0, 25),  # how long before its arrival the event happened
        st.integers(-3, 5),  # the value summed
    ),
    max_size=80,
)


@given(window=st.integers(1, 12), steps=STEPS)
def test_counts_and_sums_equal_a_brute_force_scan(window, steps):
    counter = SlidingWindowCounter(window)
    arrived: list[tuple[str, int, int]] = []  # (key, event, value)
    now = 100
    for gap, kind, key, lateness, value in steps:
        now += gap
        if kind == "event":
            held = counter.add(key, now - lateness, now, value)
            assert held == (now - lateness >= now - window)
            arrived.append((key, now - lateness, value))
            continue
        live = [v for k, e, v in arrived if k == key and e >= now - window]
        answer = counter.query(key, now)
        assert (answer.count, answer.total) == (len(live), sum(live))
    late = sum(
        1 for _, kind, _, lateness, _ in steps if kind == "event" and lateness > window
    )
    assert counter.dropped_late == late


def test_the_clock_only_moves_forward():
    counter = SlidingWindowCounter(10)
    counter.add("k", 100, 100)
    with pytest.raises(ValueError, match="arrival order"):
        counter.add("k", 90, 99)
    with pytest.raises(ValueError, match="arrival order"):
        counter.query("k", 50)
    with pytest.raises(ValueError, match="before it happened"):
        counter.add("k", 120, 110)
    assert counter.count("k", 100) == 1


def test_purge_keeps_only_live_events():
    counter = SlidingWindowCounter(50)
    rng = np.random.default_rng(0)
    events = []
    t = 0
    for _ in range(3_000):
        t += int(rng.integers(0, 3))
        key = int(rng.integers(0, 40))
        event = t - int(rng.integers(0, 60))
        if counter.add(key, event, t):
            events.append((key, event))
    forgotten = counter.purge(t)
    live = [(k, e) for k, e in events if e >= t - 50]
    assert counter.held() == len(live)
    assert len(counter) == len({k for k, _ in live})
    assert forgotten + len(counter) == len({k for k, _ in events})
    for key in range(40):
        assert counter.count(key, t) == sum(1 for k, _ in live if k == key)


@pytest.mark.parametrize(
    ("view", "entity", "window", "count", "total"),
    [
        ("user_activity", "user_id", HOUR, "impressions_1h", "clicks_1h"),
        ("user_activity", "user_id", DAY, "impressions_24h", "clicks_24h"),
        ("item_stats", "item_id", DAY, "impressions_24h", "clicks_24h"),
    ],
)
def test_streaming_equals_the_feature_views_batch_rows(
    tiny_store, tiny_events, view, entity, window, count, total
):
    rows = tiny_store.feature_rows(view)
    counter = SlidingWindowCounter(window)
    counts, totals = replay(
        counter,
        tiny_events[entity],
        tiny_events["event_us"],
        tiny_events["arrival_us"],
        tiny_events["clicked"],
        rows[entity],
        rows["event_timestamp"].array.asi8,
    )
    np.testing.assert_array_equal(counts, rows[count].to_numpy())
    np.testing.assert_array_equal(totals, rows[total].to_numpy())
    assert counter.added + counter.dropped_late == len(tiny_events)


def test_streaming_equals_windowed_sum_at_any_time(tiny_events):
    # Queries every 7 minutes for 60 users, including times between their events.
    users = np.sort(tiny_events["user_id"].unique())[::8][:60]
    start, end = tiny_events["event_us"].min(), tiny_events["arrival_us"].max()
    times = np.arange(start, end, 7 * 60 * 1_000_000)
    query_key = np.tile(users, len(times))
    query_us = np.repeat(times, len(users))
    counts, totals = replay(
        SlidingWindowCounter(HOUR),
        tiny_events["user_id"],
        tiny_events["event_us"],
        tiny_events["arrival_us"],
        tiny_events["clicked"],
        query_key,
        query_us,
    )
    batch = windowed_sum(
        tiny_events["user_id"].to_numpy(),
        tiny_events["event_us"].to_numpy(),
        tiny_events["arrival_us"].to_numpy(),
        np.column_stack([np.ones(len(tiny_events)), tiny_events["clicked"]]),
        query_key,
        query_us,
        HOUR,
    )
    np.testing.assert_array_equal(counts, batch[:, 0])
    np.testing.assert_array_equal(totals, batch[:, 1])
    assert counts.max() > 0

"""m3: in-flight time average, Little's law, the knee, and a real sweep.

Oracles: a brute-force count of requests in flight on a fine time grid;
hand-computed cases; a brute-force knee; and the slowed server, whose
capacity (~100 requests/s) is known in advance.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lt_helpers import SERVICE_MS

from labs.load_testing.capacity import (
    LITTLE_TOLERANCE,
    Step,
    capacity_sweep,
    find_knee,
    littles_law_error,
    time_average_in_flight,
)


def test_time_average_in_flight_by_hand() -> None:
    # Two requests over a 10 s window: [0, 4) and [2, 12) → 4 + 8 = 12 s in flight.
    assert time_average_in_flight(
        np.array([0.0, 2.0]), np.array([4.0, 12.0]), 10
    ) == pytest.approx(1.2)
    # A request entirely after the window adds nothing; one before it started counts its overlap.
    assert time_average_in_flight(
        np.array([11.0, -1.0]), np.array([12.0, 1.0]), 10
    ) == pytest.approx(0.1)
    assert time_average_in_flight(np.zeros(0), np.zeros(0), 1.0) == 0.0


@given(
    intervals=st.lists(
        st.tuples(st.floats(-1, 3), st.floats(0, 2)), min_size=1, max_size=30
    ),
    window=st.floats(0.5, 3),
)
def test_time_average_in_flight_matches_a_grid_count(
    intervals: list[tuple[float, float]], window: float
) -> None:
    starts = np.array([s for s, _ in intervals])
    ends = starts + np.array([d for _, d in intervals])
    grid = (np.arange(20_000) + 0.5) * window / 20_000  # midpoints over [0, window]
    counts = ((starts[:, None] <= grid) & (grid < ends[:, None])).sum(axis=0)
    expected = counts.mean()
    got = time_average_in_flight(starts, ends, window)
    assert got == pytest.approx(expected, abs=len(intervals) * 2 / 20_000 + 1e-9)


def test_littles_law_error_by_hand() -> None:
    # 4000 requests/s × 0.15 s = 600 in flight.
    assert littles_law_error(600, 4000, 0.15) == pytest.approx(0.0)
    assert littles_law_error(500, 4000, 0.15) == pytest.approx(0.2)
    assert littles_law_error(0, 0, 0.1) == 0.0
    assert littles_law_error(0, 10, 0.1) == math.inf


def step(
    rate: float, p99: float, errors: float = 0.0, throughput: float | None = None
) -> Step:
    return Step(
        offered_rps=rate, throughput_rps=rate if throughput is None else throughput,
        p50_ms=p99 / 3, p95_ms=p99 / 2,
        p99_ms=p99, mean_ms=p99 / 3, error_rate=errors, in_flight=1.0,
        littles_error=0.0, send_lag_p99_ms=0.1,
    )  # fmt: skip


def test_find_knee_by_hand() -> None:
    steps = [step(400, 80), step(100, 10), step(300, 40), step(200, 20)]
    assert find_knee(steps, slo_ms=50).offered_rps == 300  # type: ignore[union-attr]
    assert find_knee(steps, slo_ms=5) is None
    assert find_knee(steps, slo_ms=100).offered_rps == 400  # type: ignore[union-attr]
    # Errors over the budget miss the SLO whatever the latency.
    assert find_knee([step(100, 10), step(200, 12, errors=0.05)], 50).offered_rps == 100  # type: ignore[union-attr]
    # A passing step above a failing one is noise, not capacity.
    assert (
        find_knee([step(100, 10), step(200, 90), step(300, 20)], 50).offered_rps == 100
    )  # type: ignore[union-attr]
    # No latency at all (nothing succeeded) never meets an SLO.
    assert find_knee([step(100, math.nan)], 50) is None


def test_find_knee_orders_steps_by_offered_rate_not_throughput() -> None:
    # Past the knee the server answers fewer requests than at the knee (timeouts,
    # retries): throughput falls while the offered rate rises.
    steps = [
        step(100, 10, throughput=100),
        step(200, 20, throughput=200),
        step(300, 40, throughput=290),
        step(400, 80, throughput=250),
        step(500, 30, throughput=120),
    ]
    assert find_knee(steps, slo_ms=50).offered_rps == 300  # type: ignore[union-attr]


def test_find_knee_uses_the_error_budget_it_is_given() -> None:
    steps = [step(100, 10), step(200, 12, errors=0.05), step(300, 14, errors=0.08)]
    assert find_knee(steps, 50, max_error_rate=0.1).offered_rps == 300  # type: ignore[union-attr]
    assert find_knee(steps, 50, max_error_rate=0.06).offered_rps == 200  # type: ignore[union-attr]
    strict = [step(100, 10), step(200, 12, errors=0.005)]
    assert find_knee(strict, 50, max_error_rate=0.0).offered_rps == 100  # type: ignore[union-attr]


@given(
    p99s=st.lists(st.floats(1, 200), min_size=1, max_size=12),
    errors=st.lists(st.sampled_from([0.0, 0.004, 0.02, 0.2]), min_size=12, max_size=12),
    throughputs=st.lists(st.floats(1, 1000), min_size=12, max_size=12),
    slo=st.floats(1, 200),
    budget=st.sampled_from([0.0, 0.01, 0.05]),
    order=st.randoms(use_true_random=False),
)
def test_find_knee_matches_brute_force(
    p99s: list[float],
    errors: list[float],
    throughputs: list[float],
    slo: float,
    budget: float,
    order: Any,
) -> None:
    steps = [
        step(100.0 * (i + 1), p, errors[i], throughputs[i]) for i, p in enumerate(p99s)
    ]
    expected = None
    for i in range(len(steps)):  # steps[i] and every lower rate within SLO and budget
        if all(s.p99_ms <= slo and s.error_rate <= budget for s in steps[: i + 1]):
            expected = steps[i]
    shuffled = list(steps)
    order.shuffle(shuffled)
    assert find_knee(shuffled, slo, max_error_rate=budget) is expected


# Generous: a step of 1 s holds few requests, so its p99 is nearly its maximum,
# and a shared machine stalls a process for 100+ ms now and then. At 2×
# capacity the queue grows ~100 requests a second: ~1 s of waiting by the end.
SLO_MS = 30 * SERVICE_MS


@pytest.mark.server
def test_sweep_finds_the_knee_of_a_server_with_known_capacity(
    slow_server: Any, score_requests: Any
) -> None:
    capacity = 1000 / SERVICE_MS
    rates = [0.3 * capacity, 0.6 * capacity, 2.0 * capacity]
    sweep = capacity_sweep(
        slow_server.url, score_requests, rates, slo_ms=SLO_MS, duration_s=1.0,
        server_pid=slow_server.process.pid,
    )  # fmt: skip
    assert [s.offered_rps for s in sweep.steps] == rates
    knee = sweep.knee
    assert knee is not None and knee.offered_rps == pytest.approx(0.6 * capacity)
    assert knee.p99_ms <= SLO_MS
    # Steady steps obey Little's law; each request is in flight at least one
    # service time, so L ≥ λ × service time.
    for s in sweep.steps[:2]:
        assert s.littles_error <= LITTLE_TOLERANCE, s
        assert s.in_flight >= 0.8 * s.offered_rps * SERVICE_MS / 1e3, s
    over = sweep.steps[2]
    assert over.p99_ms > SLO_MS and over.throughput_rps < 1.25 * capacity
    # The slowed server waits on a lock, not the CPU.
    assert over.server_cpu < 0.8

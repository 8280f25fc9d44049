"""m2: the open-loop schedule, and coordinated omission made visible.

Oracles: hand-computed constant schedules; scipy's Kolmogorov–Smirnov test
for exponential gaps; and a server whose capacity is known (one request at a
time, 10 ms each, ~100 requests/s): offered 1.6× that, the queue grows by
~60 requests a second and an honest generator must see it, while a closed
loop on the same server keeps reporting ~one service time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lt_helpers import SERVICE_MS
from scipy import stats as scipy_stats

from infra.loadgen import run_load
from labs.load_testing.openloop import arrival_schedule
from labs.load_testing.openloop_run import run_open_loop

CAPACITY_RPS = 1000 / SERVICE_MS


def test_constant_schedule_by_hand() -> None:
    np.testing.assert_allclose(arrival_schedule(4, 1.0, 100), [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(arrival_schedule(4, 1.1, 100), [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(arrival_schedule(4, 1.0, 2), [0, 0.25])
    assert arrival_schedule(4, 1.0, 0).size == 0


@given(
    rate=st.floats(0.5, 5000),
    duration=st.floats(0.01, 5),
    cap=st.integers(0, 30_000),
)
def test_constant_schedule_properties(rate: float, duration: float, cap: int) -> None:
    offsets = arrival_schedule(rate, duration, cap)
    expected = min(cap, math.ceil(rate * duration - 1e-9))
    assert abs(offsets.size - expected) <= 1
    assert offsets.size <= cap
    assert (offsets < duration).all() and (offsets >= 0).all()
    if offsets.size > 1:
        np.testing.assert_allclose(np.diff(offsets), 1 / rate, rtol=1e-6)


def test_poisson_schedule_has_exponential_gaps() -> None:
    rate, duration = 500.0, 20.0
    offsets = arrival_schedule(rate, duration, 10**6, "poisson", seed=3)
    n = offsets.size
    assert abs(n - rate * duration) < 5 * math.sqrt(rate * duration), n
    assert (np.diff(offsets) >= 0).all() and offsets[-1] < duration
    gaps = np.diff(np.concatenate([[0.0], offsets]))
    ks = scipy_stats.kstest(gaps, "expon", args=(0, 1 / rate))
    assert ks.pvalue > 1e-3, f"gaps are not exponential with mean 1/rate: {ks}"
    again = arrival_schedule(rate, duration, 10**6, "poisson", seed=3)
    np.testing.assert_array_equal(offsets, again)  # seeded: reproducible
    capped = arrival_schedule(rate, duration, 100, "poisson", seed=3)
    np.testing.assert_array_equal(capped, offsets[:100])


@pytest.fixture(scope="module")
def overload(slow_server: Any, score_requests: Any) -> dict[str, Any]:
    """The slowed server under open loop (at 0.4× and 1.6× capacity) and closed loop."""
    light = run_open_loop(
        slow_server.url, score_requests, rate=0.4 * CAPACITY_RPS, duration_s=1.0
    )
    heavy = run_open_loop(
        slow_server.url, score_requests, rate=1.6 * CAPACITY_RPS, duration_s=1.5
    )
    closed = run_load(
        slow_server.url, "/score", [b for _, b in score_requests],
        concurrency=1, duration_s=1.5,
    )  # fmt: skip
    return {"light": light, "heavy": heavy, "closed": closed}


@pytest.mark.server
def test_open_loop_sends_on_schedule_and_counts_everything(
    overload: dict[str, Any],
) -> None:
    for name in ("light", "heavy"):
        result = overload[name]
        expected = math.ceil(result.rate * result.window_s - 1e-9)
        assert result.sent == expected, (name, result.sent, expected)
        assert int(result.ok.sum()) + result.failed == result.sent
        assert (result.latency_s >= 0).all()
    light = overload["light"]
    assert light.failed == 0
    # Under capacity the server keeps up: throughput ≈ the offered rate.
    assert light.ok_rps == pytest.approx(light.rate, rel=0.25)


@pytest.mark.server
def test_open_loop_exposes_the_queue_that_the_closed_loop_hides(
    overload: dict[str, Any],
) -> None:
    light, heavy, closed = overload["light"], overload["heavy"], overload["closed"]
    # Closed loop, one user: it waits for every answer, so it never queues and
    # reports about one service time, however overloaded the server would be.
    assert closed.p99_ms < 10 * SERVICE_MS, closed.latency_ms
    # Open loop at 1.6× capacity: ~0.6 × 100 requests/s pile up for 1.5 s, so the
    # last ones wait ~0.9 s. Timing from the scheduled send shows it.
    assert heavy.p99_ms > 300, f"open-loop p99 {heavy.p99_ms:.0f} ms under overload"
    assert heavy.p99_ms > 3 * closed.p99_ms
    assert heavy.p99_ms > 3 * light.p99_ms
    # The server never exceeded its capacity, whatever was offered.
    assert heavy.ok_rps < 1.25 * CAPACITY_RPS
    # Latency grows with the time a request was due: the queue builds up.
    early = heavy.latency_s[heavy.scheduled_s < 0.3].mean()
    late = heavy.latency_s[heavy.scheduled_s > 1.0].mean()
    assert late > 3 * early, (early, late)


@pytest.mark.given
def test_open_loop_refuses_remote_hosts_and_empty_work() -> None:
    with pytest.raises(ValueError, match="on this machine"):
        run_open_loop("http://10.0.0.1:80", [("/score", {})], rate=10)
    with pytest.raises(ValueError, match="rate"):
        run_open_loop("http://127.0.0.1:9", [("/score", {})], rate=0)

"""The knee by bisection (given code): against a service whose true knee is known.

The oracle is a model server: an M/M/1 queue with capacity ``MU`` whose p99
response time is ``ln(100) / (μ − λ)``, so the highest rate meeting a p99 SLO
has a closed form. The search must bracket it to ±5%, repeat the rates its
runs disagree on, and stop where the generator, not the service, is the limit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labs.load_testing.capacity import Step
from labs.load_testing.knee_search import (
    Probe,
    compare_knees,
    measure_probe,
    search_knee,
)

pytestmark = pytest.mark.given

MU = 1000.0  # the model server's capacity, requests/s
SLO_MS = 50.0


def mm1_p99_ms(rate: float, mu: float = MU) -> float:
    """p99 of an M/M/1 queue's time in system: exponential with rate μ − λ."""
    return math.inf if rate >= mu else 1e3 * math.log(100) / (mu - rate)


def true_knee(mu: float = MU, slo_ms: float = SLO_MS) -> float:
    """The λ at which the p99 equals the SLO."""
    return mu - 1e3 * math.log(100) / slo_ms


def step(rate: float, p99_ms: float, *, send_lag_ms: float = 0.1) -> Step:
    return Step(
        offered_rps=rate, throughput_rps=rate, p50_ms=p99_ms / 4, p95_ms=p99_ms / 2,
        p99_ms=p99_ms, mean_ms=p99_ms / 5, error_rate=0.0, in_flight=1.0,
        littles_error=0.0, send_lag_p99_ms=send_lag_ms,
    )  # fmt: skip


class ModelServer:
    """``measure(rate)`` for the M/M/1 model, with multiplicative noise on the p99."""

    def __init__(self, noise: float = 0.0, seed: int = 0, mu: float = MU):
        self.rng = np.random.default_rng(seed)
        self.noise, self.mu = noise, mu
        self.rates: list[float] = []

    def __call__(self, rate: float) -> Step:
        self.rates.append(rate)
        p99 = mm1_p99_ms(rate, self.mu)
        if self.noise and math.isfinite(p99):
            p99 *= float(np.exp(self.rng.normal(0.0, self.noise)))
        return step(rate, min(p99, 60_000.0))


@pytest.mark.parametrize("start", [200.0, 800.0, 3000.0])
def test_the_bracket_holds_the_true_knee_within_five_percent(start):
    server = ModelServer()
    search = search_knee(server, start_rps=start, slo_ms=SLO_MS, min_runs=1)
    low, high = search.bracket
    assert low <= true_knee() <= high, (search.bracket, true_knee())
    assert search.resolved and high / low <= 1.1 + 1e-9
    assert search.knee_rps == low
    assert not search.generator_limited
    # Every rate at or below the knee met, every rate above it missed: the
    # steps a report draws from are monotone.
    verdicts = [s.meets(SLO_MS) for s in search.steps()]
    assert verdicts == sorted(verdicts, reverse=True)


def test_a_rate_whose_runs_disagree_is_run_again_and_judged_by_its_median():
    verdicts = iter([step(100, 40), step(100, 70), step(100, 45), step(100, 44)])
    probe = measure_probe(lambda _: next(verdicts), 100, slo_ms=SLO_MS, max_runs=4)
    # Two runs disagreed (40 meets, 70 misses): a third; 40, 45, 70 spread by
    # more than STABLE_SPREAD: a fourth, then the cap.
    assert len(probe.runs) == 4
    assert not probe.agree and not probe.stable
    assert probe.median.p99_ms == 44  # the lower middle of 40, 44, 45, 70
    assert probe.meets and probe.p99_spread == (40, 70)


def test_agreeing_runs_stop_at_min_runs():
    probe = measure_probe(lambda r: step(r, 20.0), 100, slo_ms=SLO_MS, min_runs=2)
    assert len(probe.runs) == 2 and probe.stable


def test_noise_near_the_knee_still_brackets_it():
    server = ModelServer(noise=0.15, seed=3)
    search = search_knee(server, start_rps=500, slo_ms=SLO_MS, max_runs=5)
    low, high = search.bracket
    # With noise the bracket may land a little off; the true knee is within
    # the tolerance plus the noise's effect on the rate (a few percent).
    assert 0.9 * low <= true_knee() <= 1.1 * high
    assert sum(len(p.runs) for p in search.probes) >= 2 * len(search.probes)
    by_rate = sorted(search.probes, key=lambda p: p.rate)
    assert [s.runs for s in search.steps()] == [len(p.runs) for p in by_rate]


def test_a_late_generator_stops_the_search_and_says_so():
    def measure(rate: float) -> Step:
        if rate > 600:  # the generator falls behind: its lag is the tail
            return step(rate, 80.0, send_lag_ms=70.0)
        return step(rate, mm1_p99_ms(rate))

    search = search_knee(measure, start_rps=500, slo_ms=SLO_MS)
    assert search.generator_limited
    assert "generator" in search.note
    assert search.knee_rps == 500  # what the service was seen to meet, no more


def test_the_generator_ceiling_caps_the_offered_rate():
    server = ModelServer(mu=10_000.0)
    search = search_knee(
        server, start_rps=400, slo_ms=SLO_MS, generator_ceiling_rps=1000, min_runs=1
    )
    assert max(server.rates) <= 1000
    assert search.generator_limited and "at least" in search.note
    assert search.high is None


def test_compare_knees_orders_only_what_the_brackets_support():
    fast = search_knee(ModelServer(mu=2000), start_rps=500, slo_ms=SLO_MS, min_runs=1)
    slow = search_knee(ModelServer(mu=1000), start_rps=500, slo_ms=SLO_MS, min_runs=1)
    near = search_knee(ModelServer(mu=1010), start_rps=500, slo_ms=SLO_MS, min_runs=1)
    ordered = compare_knees({"slow": slow, "fast": fast})
    assert len(ordered) == 1 and ordered[0].startswith("`fast` holds more than `slow`")
    tied = compare_knees({"a": slow, "b": near})
    assert "cannot be told apart" in tied[0]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="start_rps"):
        search_knee(ModelServer(), start_rps=0, slo_ms=SLO_MS)
    with pytest.raises(ValueError, match="min_runs"):
        measure_probe(ModelServer(), 100, slo_ms=SLO_MS, min_runs=3, max_runs=2)


def test_a_probe_is_judged_by_the_median_run():
    probe = Probe(100, [step(100, 10), step(100, 90), step(100, 20)], slo_ms=SLO_MS)
    assert probe.median.p99_ms == 20 and probe.meets

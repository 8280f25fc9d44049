"""m5: replica sizing, what saturates first, and the report page.

Oracles: hand-computed replica counts and the defining inequality
(``n`` replicas are enough and ``n − 1`` are not); synthetic sweeps whose
saturation cause is known; a report whose sentences must follow the numbers
handed in (change them and the text changes).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.results import Results
from labs.load_testing.capacity import Step, Sweep
from labs.load_testing.report import (
    findings,
    replicas_needed,
    saturation,
    write_report,
)
from labs.load_testing.variants import Comparison, Outcome, Variant


def test_replicas_needed_by_hand() -> None:
    assert replicas_needed(1000, 250, headroom=0.0) == 4
    assert replicas_needed(1000, 250, headroom=0.2) == 5  # 200 each
    assert replicas_needed(1001, 250, headroom=0.2) == 6
    assert replicas_needed(0, 250) == 1
    assert replicas_needed(30, 100, headroom=0.3) == 1
    # 90 × (1 − 0.3) is 63 requests/s, so 630 needs exactly 10 replicas; in floats
    # 630 / (90 × 0.7) is 10.000000000000002, whose ceiling would be 11.
    assert replicas_needed(630, 90, headroom=0.3) == 10
    assert replicas_needed(63, 90, headroom=0.3) == 1
    with pytest.raises(ValueError, match="knee_rps"):
        replicas_needed(100, 0)
    with pytest.raises(ValueError, match="headroom"):
        replicas_needed(100, 10, headroom=1.0)


@given(
    target=st.floats(1, 1e6),
    knee=st.floats(1, 1e5),
    headroom=st.floats(0, 0.9),
)
def test_replicas_needed_is_the_smallest_count_that_suffices(
    target: float, knee: float, headroom: float
) -> None:
    n = replicas_needed(target, knee, headroom)
    usable = knee * (1 - headroom)
    assert n * usable >= target * (1 - 1e-9)
    assert n == 1 or (n - 1) * usable < target


def step(
    rate: float, p99: float, cpu: float = 0.3, lag: float = 0.2, runq: float = 0.0
) -> Step:
    rng = np.random.default_rng(int(rate))
    return Step(
        offered_rps=rate, throughput_rps=min(rate, 900.0), p50_ms=p99 / 4,
        p95_ms=p99 / 2, p99_ms=p99, mean_ms=p99 / 3, error_rate=0.0,
        in_flight=rate * p99 / 3e3, littles_error=0.02, send_lag_p99_ms=lag,
        server_cpu=cpu, server_runq=runq, latencies_ms=rng.gamma(2.0, p99 / 12, 500),
    )  # fmt: skip


def outcome(name: str, steps: list[Step], workers: int = 1) -> Outcome:
    return Outcome(Variant(name, workers=workers), Sweep(50.0, steps))


def test_saturation_reads_the_first_step_past_the_knee() -> None:
    cpu = outcome("a", [step(100, 10), step(200, 90, cpu=0.97), step(400, 900, lag=40)])
    assert saturation(cpu) == "server CPU"
    gen = outcome("b", [step(100, 10), step(200, 90, cpu=0.97, lag=50)])
    assert saturation(gen) == "generator"  # the lag is most of the p99
    lagging = outcome("b2", [step(100, 10), step(200, 90, cpu=0.97, lag=30)])
    assert saturation(lagging) == "server CPU"  # a third of the p99: not most of it
    wait = outcome("c", [step(100, 10), step(200, 90, cpu=0.4)])
    assert saturation(wait) == "waiting"
    starved = outcome("c2", [step(100, 10), step(200, 90, cpu=0.4, runq=0.5)])
    assert saturation(starved) == "CPU contention"
    # A server that used its whole core is CPU-bound, even if it also waited for
    # the core now and then: its own work explains the latency.
    busy = outcome("c3", [step(100, 10), step(200, 90, cpu=0.95, runq=0.3)])
    assert saturation(busy) == "server CPU"
    two = outcome("d", [step(100, 10), step(200, 90, cpu=0.97)], workers=2)
    assert saturation(two) == "waiting"  # two workers: one busy core is not saturated
    assert saturation(outcome("e", [step(100, 10), step(200, 20)])) == "none"
    assert saturation(outcome("f", [step(100, 90, cpu=0.95)])) == "server CPU"
    assert saturation(Outcome(Variant("g"), skipped="no redis")) == "not measured"


def comparison(base_knee: float, best_knee: float) -> Comparison:
    base = outcome(
        "batching off",
        [
            step(base_knee / 2, 8),
            step(base_knee, 30),
            step(2 * base_knee, 400, cpu=0.99),
        ],
    )
    best = outcome(
        "batching on",
        [
            step(best_knee / 2, 6),
            step(best_knee, 40),
            step(2 * best_knee, 300, cpu=0.5),
        ],
    )
    skipped = Outcome(
        Variant("redis store", store="redis"), skipped="redis-server is not installed"
    )
    return Comparison(50.0, [base, best, skipped])


def test_write_report_derives_its_text_from_the_figures(tmp_path: Path) -> None:
    results = Results("load_testing", "Load testing", root=tmp_path)
    said = write_report(
        results, comparison(200, 600), target_rps=10_000, headroom=0.3,
        loadgen_max_rps=5000,
    )  # fmt: skip
    text = "\n".join(said)
    assert "`batching on` holds the most load" in text and "600 requests/s" in text
    assert "3.00× the `batching off` baseline" in text
    assert f"needs {replicas_needed(10_000, 600, 0.3)} replicas" in text  # 24
    assert "24 replicas" in text
    assert "`batching off`: server CPU" in text and "`batching on`: waiting" in text
    assert "redis-server is not installed" in text
    assert "every knee is below that ceiling" in text
    page = results.write().read_text()
    assert "Knee per variant" in page and "What the numbers say" in page
    for plot in ("run-latency_throughput.png", "run-latency_histogram.png"):
        png = tmp_path / "load_testing" / "plots" / plot
        assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"
        assert f"plots/{plot}" in page
    # Other figures, other words: nothing is canned.
    other = findings(
        comparison(300, 450), target_rps=10_000, headroom=0.5, loadgen_max_rps=400
    )
    other_text = "\n".join(other)
    assert "1.50× the `batching off` baseline" in other_text
    assert f"needs {replicas_needed(10_000, 450, 0.5)} replicas" in other_text
    assert "not trusted" in other_text
    assert not math.isnan(float(replicas_needed(1, 1)))

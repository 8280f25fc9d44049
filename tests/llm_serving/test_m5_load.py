"""m5 — under load: per-request timings, goodput, the knee and the replica count.

Synthetic generator records with hand-computed answers pin down every rule
(TTFT from the *scheduled* send, TPOT over the gaps, goodput needing both
SLOs, the knee in offered order); one real open-loop run against the
service checks the figures are consistent end to end.
"""

from __future__ import annotations

import pytest

from infra.sse_load import run_sse_load
from labs.llm_serving import (
    SLO,
    knee_rate,
    load_summary,
    meets_slo,
    replicas_needed,
    request_timing,
)
from labs.llm_serving.load_metrics import RequestTiming


def record(scheduled, events, *, sent=None, status=200, done=True):
    return {
        "scheduled": scheduled,
        "sent": scheduled if sent is None else sent,
        "status": status,
        "events": list(events),
        "done": done,
    }


def test_ttft_is_timed_from_the_scheduled_send():
    timing = request_timing(record(1.0, [1.5, 1.6, 1.8, 1.9], sent=1.3))
    assert timing.ttft_s == pytest.approx(0.5), (
        "late sending is part of the wait: time from 'scheduled'"
    )
    assert timing.e2e_s == pytest.approx(0.9)
    assert timing.tpot_s == pytest.approx(0.4 / 3), "TPOT is (last - first) / (n - 1)"
    assert timing.tokens == 4


def test_one_token_has_no_tpot_and_no_token_no_timing():
    assert request_timing(record(0.0, [0.2])).tpot_s is None
    assert request_timing(record(0.0, [], status=503, done=False)) is None


def test_the_slo_needs_both_ttft_and_tpot():
    slo = SLO(ttft_s=0.5, tpot_s=0.05)
    assert meets_slo(RequestTiming(0.5, 0.05, 2.0, 10), slo), (
        "the bounds themselves are met"
    )
    assert not meets_slo(RequestTiming(0.51, 0.01, 1.0, 10), slo)
    assert not meets_slo(RequestTiming(0.1, 0.051, 1.0, 10), slo)
    assert meets_slo(RequestTiming(0.3, None, 0.3, 1), slo)


def test_a_load_point_counts_goodput_over_the_offered_window():
    slo = SLO(ttft_s=0.5, tpot_s=0.1)
    records = [
        record(0.0, [0.1, 0.2, 0.3]),  # good
        record(0.5, [0.7, 0.75]),  # good
        record(1.0, [1.9, 2.0], sent=1.0),  # TTFT 0.9: too slow to start
        record(1.5, [1.6, 1.9, 2.2]),  # TPOT 0.3: too slow to stream
        record(2.0, [], status=503, done=False),  # refused
        record(2.5, [2.6, 2.7], done=False),  # cut before the end
        record(3.7, [3.8, 3.85, 3.9, 4.05]),  # good; its last token after the window
    ]
    point = load_summary(records, duration_s=4.0, slo=slo)
    assert (
        point["offered"],
        point["completed"],
        point["rejected"],
        point["failed"],
    ) == (7, 5, 1, 1)
    assert point["goodput_rps"] == pytest.approx(3 / 4.0)
    assert point["slo_attainment"] == pytest.approx(3 / 7)
    assert point["tokens"] == 16
    assert point["tokens_per_s"] == pytest.approx(15 / 4.0), (
        "tokens received in [0, 4) per second"
    )
    assert point["ttft_p50_s"] == pytest.approx(0.1)


def test_the_knee_is_the_last_rate_before_the_first_miss():
    points = [
        {"offered_rps": 30, "slo_attainment": 0.95},  # passes, but after a failure
        {"offered_rps": 10, "slo_attainment": 1.0},
        {"offered_rps": 25, "slo_attainment": 0.5},
        {"offered_rps": 20, "slo_attainment": 0.9},
    ]
    assert knee_rate(points, min_attainment=0.9) == 20
    assert knee_rate(points, min_attainment=0.99) == 10
    assert (
        knee_rate([{"offered_rps": 5, "slo_attainment": 0.2}], min_attainment=0.9)
        == 0.0
    )


def test_replicas_for_a_target_rate_with_headroom():
    assert replicas_needed(100, 20, headroom=0.0) == 5
    assert replicas_needed(100, 20, headroom=0.3) == 8  # 100 / 14 = 7.1 -> 8
    assert replicas_needed(1, 20, headroom=0.3) == 1
    assert replicas_needed(140, 20, headroom=0.3) == 10
    with pytest.raises(ValueError):
        replicas_needed(10, 0)


def test_an_open_loop_run_against_the_service(service):
    bodies = [
        {
            "prompt": "The ",
            "max_tokens": 8,
            "temperature": 0.5,
            "seed": 1,
            "stream": True,
        },
        {
            "prompt": "x = ",
            "max_tokens": 3,
            "temperature": 0.5,
            "seed": 2,
            "stream": True,
        },
    ]
    run = run_sse_load(
        service.url,
        "/generate",
        bodies,
        rate=8,
        duration_s=1.5,
        max_requests=30,
        timeout_s=10,
        drain_s=5,
        seed=4,
    )
    records = run["requests"]
    point = load_summary(records, duration_s=1.5, slo=SLO(ttft_s=2.0, tpot_s=0.5))
    assert point["offered"] == len(records) >= 3
    assert point["completed"] == point["offered"], records
    expected_tokens = sum(bodies[r["index"] % 2]["max_tokens"] for r in records)
    assert point["tokens"] == expected_tokens
    assert point["goodput_rps"] == pytest.approx(point["offered"] / 1.5)
    for r in records:
        timing = request_timing(r)
        assert timing.ttft_s >= 0.02, (
            "each step takes >= 20 ms: no token arrives sooner"
        )
        assert timing.ttft_s == pytest.approx(r["events"][0] - r["scheduled"])

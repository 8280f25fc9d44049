"""From every token's arrival time to the figures an LLM service is judged by.

    timing = request_timing(record)        # one request: TTFT, TPOT, end-to-end
    point = load_summary(records, duration_s=10, slo=SLO(ttft_s=0.5, tpot_s=0.05))
    point["goodput_rps"], point["ttft_p99_s"], point["tokens_per_s"]

The open-loop generator (``infra/sse_load.py``) records, for each request,
when it was **scheduled** to be sent, when it was actually sent, its HTTP
status, and the arrival time of every token. From those:

- **TTFT** (time to first token) ``= events[0] - scheduled``. From the
  *scheduled* send, not the actual one: a request the generator sent late
  (because it, or the connection, or the machine was busy) waited for that
  too, and timing from the actual send hides exactly the delays that grow
  under load (coordinated omission).
- **TPOT** (time per output token, the inter-token latency a reader sees)
  ``= (events[-1] - events[0]) / (n - 1)`` for ``n >= 2`` tokens: the gaps
  *between* tokens; the first token's wait is TTFT's, not TPOT's.
- **end-to-end** ``= events[-1] - scheduled``.

A run's **goodput** is the number of requests per second that completed
*and* met both SLOs (TTFT ≤ ``slo.ttft_s`` and TPOT ≤ ``slo.tpot_s``), over
the offered window ``duration_s``. Throughput counts every token received;
goodput counts only the answers a user was happy with. Past the knee they
part ways: tokens/s stays flat while goodput falls.

Check it: ``labkit check llm_serving`` (milestone m5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SLO:
    """What a user accepts: the first token within ``ttft_s``, then one every ``tpot_s``."""

    ttft_s: float = 0.5
    tpot_s: float = 0.05


@dataclass(frozen=True)
class RequestTiming:
    """One completed request's latencies (seconds)."""

    ttft_s: float
    tpot_s: float | None  # None with fewer than two tokens
    e2e_s: float
    tokens: int


def request_timing(record: dict[str, Any]) -> RequestTiming | None:
    """The latencies of one generator record; ``None`` if no token arrived.

    Args:
        record: ``{"scheduled": s, "sent": s, "status": 200, "events": [t, ...],
            "done": bool, ...}``, times in seconds from the run's start.
    """
    events = record.get("events") or []
    if not events:
        return None
    # BEGIN SOLUTION m5: TTFT and end-to-end from the scheduled send; TPOT the mean gap between tokens, (last - first) / (n - 1), None for one token
    scheduled = record["scheduled"]
    n = len(events)
    tpot = (events[-1] - events[0]) / (n - 1) if n > 1 else None
    return RequestTiming(
        ttft_s=events[0] - scheduled,
        tpot_s=tpot,
        e2e_s=events[-1] - scheduled,
        tokens=n,
    )
    # END SOLUTION


def meets_slo(timing: RequestTiming, slo: SLO) -> bool:
    """Whether a completed request met both SLOs (a one-token answer has no TPOT to miss)."""
    # BEGIN SOLUTION m5: TTFT within slo.ttft_s and (no TPOT, or TPOT within slo.tpot_s); both must hold
    return timing.ttft_s <= slo.ttft_s and (
        timing.tpot_s is None or timing.tpot_s <= slo.tpot_s
    )
    # END SOLUTION


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def load_summary(
    records: list[dict[str, Any]], *, duration_s: float, slo: SLO
) -> dict[str, Any]:
    """One load point's figures.

    Returns:
        ``offered`` requests, ``completed`` (status 200 and every token),
        ``rejected`` (503), ``failed`` (anything else, cut or timed out),
        ``tokens`` received, ``tokens_per_s`` (tokens received while load was
        offered, ``[0, duration_s)``, per second: the rate the server kept up
        under that load, not diluted by the drain after it), ``goodput_rps`` (completed requests
        meeting both SLOs per second of ``duration_s``), ``slo_attainment``
        (their share of the offered requests), and p50/p99 of TTFT and TPOT
        over the completed requests.
    """
    timings: list[RequestTiming] = []
    rejected = failed = tokens = in_window = 0
    for record in records:
        events = record.get("events") or []
        tokens += len(events)
        in_window += sum(1 for t in events if t < duration_s)
        if record.get("status") == 503:
            rejected += 1
            continue
        timing = request_timing(record)
        if record.get("status") != 200 or not record.get("done") or timing is None:
            failed += 1
            continue
        timings.append(timing)
    # BEGIN SOLUTION m5: good = completed timings that meet the SLO; goodput = good / duration_s; attainment = good / offered (0 if none offered)
    good = sum(meets_slo(t, slo) for t in timings)
    goodput = good / duration_s
    attainment = good / len(records) if records else 0.0
    # END SOLUTION
    ttfts = [t.ttft_s for t in timings]
    tpots = [t.tpot_s for t in timings if t.tpot_s is not None]
    return {
        "offered": len(records),
        "offered_rps": len(records) / duration_s,
        "completed": len(timings),
        "rejected": rejected,
        "failed": failed,
        "tokens": tokens,
        "tokens_per_s": in_window / duration_s,
        "goodput_rps": goodput,
        "slo_attainment": attainment,
        "ttft_p50_s": _percentile(ttfts, 50),
        "ttft_p99_s": _percentile(ttfts, 99),
        "tpot_p50_s": _percentile(tpots, 50),
        "tpot_p99_s": _percentile(tpots, 99),
    }

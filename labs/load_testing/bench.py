"""``labkit bench load_testing``: the knee of every variant, and the instrument's ceiling.

    labkit bench load_testing --json              # small preset, ~5 minutes
    labkit bench load_testing --preset tiny --json

Figures (all from this one run):

- ``variants``: per design (batching on/off, 2 workers, Redis store),
  ``knee_rps`` (highest offered rate with p99 ≤ the SLO and ≤ 1% errors,
  every lower rate passing too) and ``p99_at_knee_ms``; ``search``: the
  bisection's bracket (the knee lies in it, ±5%), rates and runs measured,
  rates whose runs disagreed, and whether the generator was the limit;
  ``null`` with a ``note`` for a variant that could not be measured.
- ``littles_law_max_error``: the largest |L − λW| / L over every step at or
  below a knee (steady steps); ``littles_law_max_error_all_steps`` includes
  the overloaded ones, where the queue is still growing.
- ``loadgen_max_rps``: the open-loop generator against ``infra/bare_app.py``
  (an empty endpoint), offered a doubling rate until it answers less than
  80% of it: the ceiling of the instrument on this machine. A knee above it
  is not a measurement.
- ``locust_bare_rps``: locust (closed loop, no think time) against the same
  empty endpoint, for comparison.
- ``closed_loop_littles_error``: Little's law for the closed-loop probes,
  where L is the concurrency itself.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from common.results import Results
from infra.apps import BARE_APP
from infra.uvicorn_server import start_uvicorn
from labs.load_testing.campaign import (
    Plan,
    Study,
    loadgen_ceiling,
    sweep_variants,
)
from labs.load_testing.locust_run import run_locust
from labs.load_testing.report import (
    HEADROOM,
    sizing_target,
    write_report,
)

log = logging.getLogger(__name__)

PLAN = Plan(
    variants=("batching on", "batching off", "2 workers", "redis store"),
    fractions=(0.3, 0.5, 0.7, 0.9, 1.1, 1.4),
    step_s=3.0,
    probe_s=2.0,
    slo_ms=50.0,
    bisect=True,
)


def _finite(value: float) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def bench(results: Results, *, preset: str = "small") -> None:
    """Sweep every variant, measure the generator's ceiling, write the page."""
    study = Study.begin(results, PLAN, preset=preset, n_requests=4000)
    model, workload, requests = study.model, study.workload, study.requests
    results.add("step_s", PLAN.step_s)

    ceiling = loadgen_ceiling(
        [("/score", body) for route, body in requests if route == "/score"]
    )
    results.add("loadgen_max_rps", ceiling["loadgen_max_rps"])
    results.add("closed_loop_bare_rps", ceiling["closed_loop_bare_rps"])
    bare = start_uvicorn(BARE_APP)
    try:
        locust = run_locust(bare.url, workload, users=32, duration_s=4)
    finally:
        bare.stop()
    results.add("locust_bare_rps", locust.rps)

    comparison = sweep_variants(
        PLAN, preset=preset, requests=requests,
        generator_ceiling_rps=ceiling["loadgen_max_rps"],
    )  # fmt: skip
    variants: dict[str, Any] = {}
    steady, every, closed = [], [], []
    for outcome in comparison.outcomes:
        knee = outcome.sweep.knee if outcome.sweep else None
        variants[outcome.variant.name] = {
            "knee_rps": knee.offered_rps if knee else None,
            "throughput_at_knee_rps": _finite(knee.throughput_rps) if knee else None,
            "p99_at_knee_ms": _finite(knee.p99_ms) if knee else None,
            "steps": len(outcome.sweep.steps) if outcome.sweep else 0,
            "search": outcome.sweep.search.summary()
            if outcome.sweep and outcome.sweep.search
            else None,
            "note": outcome.row()["note"],
        }
        if outcome.sweep:
            steady.append(outcome.sweep.steady_littles_error())
            every.extend(s.littles_error for s in outcome.sweep.steps)
            closed.append(outcome.sweep.closed_loop.get("littles_error", math.nan))
    results.add("variants", variants)
    results.add(
        "littles_law_max_error",
        _finite(max((e for e in steady if math.isfinite(e)), default=math.nan)),
    )
    results.add(
        "littles_law_max_error_all_steps",
        _finite(max((e for e in every if math.isfinite(e)), default=math.nan)),
    )
    results.add(
        "closed_loop_littles_error",
        _finite(max((e for e in closed if math.isfinite(e)), default=math.nan)),
    )

    target = sizing_target(comparison)
    results.add("target_rps", target)
    results.text(
        f"ShopStream `{preset}`, model `{model.version}`; SLO p99 ≤ {PLAN.slo_ms:g} ms. "
        f"Each variant: a {PLAN.probe_s:g} s closed-loop probe, then the knee by "
        f"bisection on the offered rate to ±{PLAN.tolerance:.0%}, open-loop runs of "
        f"{PLAN.step_s:g} s, each rate run {PLAN.min_runs} to {PLAN.max_runs} times "
        "until its runs agree; no rate above the generator's own ceiling. One-worker servers on core 0, generators on core 1; the "
        "2-worker server uses both cores and shares core 1 with the generator."
    )
    results.table(
        ceiling["steps"], title="The instrument: open loop against the empty endpoint"
    )
    results.text(
        f"The open-loop generator reached {ceiling['loadgen_max_rps']:,.0f} requests/s "
        f"against the empty endpoint; infra's closed loop {ceiling['closed_loop_bare_rps']:,.0f} "
        f"and locust {locust.rps:,.0f}."
    )
    study.end(results)
    write_report(
        results, comparison, target_rps=target, headroom=HEADROOM,
        loadgen_max_rps=ceiling["loadgen_max_rps"],
    )  # fmt: skip

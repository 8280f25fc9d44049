"""``labkit run load_testing``: a short capacity study of the ranking service.

    labkit run load_testing                  # small preset; results/load_testing/
    labkit run load_testing --preset tiny

What it does (about a minute and a half on 2 cores):

1. **Coordinated omission**: a server slowed on purpose (10 ms a request,
   one at a time: 100 requests/s) loaded by a closed loop and by an open
   loop below and above its capacity.
2. **Capacity** of ``online_serving`` with batching on and off: a
   closed-loop probe, then the knee found by bisection on the offered rate
   to ±5%, each rate run until its runs agree (``knee_search.py``); Little's
   law on every step. ``labkit demo`` keeps its time budget with
   ``knee="steps"``: open-loop steps at fixed fractions of the probe instead,
   a coarser knee (the page says which was used).
3. **locust**: ShopStream users (hot users and items, /score and /rank)
   against the batching-on server, closed loop, beside the open-loop figures.
4. **The report**: tables, the latency–throughput plot with the SLO line,
   the latency histogram at the knee, replicas for 10× traffic, and what
   the numbers say, all computed from this run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Literal

from common.results import Results
from labs.load_testing.campaign import (
    Plan,
    Study,
    coordinated_omission,
    sweep_variants,
)
from labs.load_testing.locust_run import run_locust
from labs.load_testing.report import (
    HEADROOM,
    TRAFFIC_MULTIPLE,
    sizing_target,
    write_report,
)

log = logging.getLogger(__name__)

PLAN = Plan(
    variants=("batching on", "batching off"),
    fractions=(0.5, 0.8, 1.1, 1.4),
    step_s=2.0,
    probe_s=1.5,
    slo_ms=50.0,
    max_extra=2,
)
LOCUST_USERS, LOCUST_S = 16, 3.0


def run(
    results: Results,
    *,
    preset: str = "small",
    knee: Literal["bisect", "steps"] = "bisect",
) -> None:
    """Measure and report (see the module doc)."""
    began = time.perf_counter()
    if knee not in ("bisect", "steps"):
        raise ValueError(f"knee must be 'bisect' or 'steps', got {knee!r}.")
    plan = dataclasses.replace(PLAN, bisect=knee == "bisect")
    study = Study.begin(results, plan, preset=preset, n_requests=3000)
    model, workload, requests = study.model, study.workload, study.requests
    clock = {"setup": time.perf_counter() - began}
    results.text(
        f"ShopStream `{preset}`, model `{model.version}`. Requests: /score and /rank "
        f"({workload.rank_candidates} candidates) in a {workload.score_weight}:"
        f"{workload.rank_weight} mix, users and items drawn with the log's skew. "
        f"SLO: p99 ≤ {plan.slo_ms:g} ms, errors ≤ 1%. One uvicorn worker pinned to "
        "core 0, load generators on core 1."
    )

    results.text("## 1. Coordinated omission")
    co = coordinated_omission(duration_s=1.2)
    results.add("coordinated_omission", co)
    results.table([{"load": k, **v} for k, v in co.items()])
    closed = co["closed loop, 1 connection"]
    over = next(v for k, v in co.items() if "1.5×" in k)
    results.text(
        f"The server takes 10 ms per request, one at a time (100 requests/s). The closed "
        f"loop reports p99 {closed['p99 ms']:.1f} ms: it waits for each answer, so it "
        f"never offers more than the server takes. Offered {over['offered rps']:.0f} "
        f"requests/s on a schedule, the same server answers {over['throughput rps']:.0f}/s "
        f"and the p99 from the scheduled send is {over['p99 ms']:.0f} ms "
        f"({over['p99 ms'] / closed['p99 ms']:.0f}× the closed loop's): that queue is "
        "what users would see, and what a closed-loop tool omits."
    )

    clock["coordinated omission"] = time.perf_counter() - began - sum(clock.values())

    results.text("## 2. Capacity of the ranking service")
    locust: dict[str, Any] = {}

    def beside(variant: Any, server: Any) -> None:
        if not locust:  # the first variant: locust's closed loop beside the sweep
            stats = run_locust(
                server.url, workload, users=LOCUST_USERS, duration_s=LOCUST_S
            )
            locust.update(stats.as_dict())

    results.add("knee_search", knee)
    results.text(
        "Each knee was found by bisection on the offered rate, to ±5%, every rate "
        f"run {plan.min_runs} to {plan.max_runs} times until its runs agreed."
        if plan.bisect
        else "A short sweep (the demo's): open-loop steps at "
        f"{', '.join(f'{f:g}' for f in plan.fractions)} × the probe's throughput, "
        "one run each; the knee is as coarse as those steps. `labkit run "
        "load_testing` bisects it to ±5%."
    )
    comparison = sweep_variants(
        plan, preset=preset, requests=requests, after_sweep=beside
    )
    clock["sweeps and locust"] = time.perf_counter() - began - sum(clock.values())
    rows = comparison.rows()
    results.add("variants", {r["variant"]: r for r in rows})
    for outcome in comparison.swept():
        results.add(
            f"closed_loop_probe[{outcome.variant.name}]", outcome.sweep.closed_loop
        )  # type: ignore[union-attr]
    base = comparison.outcomes[0]
    knee = base.sweep.knee if base.sweep else None
    target = sizing_target(comparison)
    results.add("target_rps", target)
    results.text(
        f"Replica sizing assumes today's traffic is what one `{base.variant.name}` "
        f"server carries at the SLO ({knee.offered_rps:,.0f} requests/s) and asks for "
        f"{TRAFFIC_MULTIPLE}× that, {target:,.0f} requests/s, keeping "
        f"{HEADROOM:.0%} headroom per replica."
        if knee
        else "No knee for the baseline: no replica sizing."
    )
    write_report(results, comparison, target_rps=target, headroom=HEADROOM)

    results.text("## 3. locust beside the open loop")
    results.add("locust", locust)
    if locust:
        results.table(
            [
                {
                    "route": name,
                    "requests": r["count"],
                    "failures": r["failures"],
                    "rps": r["rps"],
                    "p50 ms": r["p50_ms"],
                    "p99 ms": r["p99_ms"],
                }
                for name, r in [("all", locust), *locust["routes"].items()]
            ]
        )
        results.text(
            f"{LOCUST_USERS} locust users without think time (closed loop) drew "
            f"{locust['rps']:,.0f} requests/s from `{base.variant.name}` at p99 "
            f"{locust['p99_ms']:.0f} ms with {locust['failures']} failures: "
            "a closed loop finds *a* throughput at *a* concurrency, not the rate the "
            "service can take within its SLO (locust rounds times above 100 ms to "
            "two significant digits)."
        )
    study.end(results)
    results.add("seconds", {**clock, "total": time.perf_counter() - began})

"""The measurements ``run.py`` and ``bench.py`` are made of, sized by a :class:`Plan`.

    plan = Plan(variants=["batching on", "batching off"], step_s=3, fractions=(...))
    comparison = sweep_variants(plan, preset="small", requests=requests)

Every server is a uvicorn subprocess on 127.0.0.1; every load generator
(locust, the open loop, the closed-loop probe) a process of its own. On a
2-core machine a one-worker server is pinned to core 0 and the generators to
core 1, so neither steals the other's core; a two-worker server gets both
cores and shares core 1 with the generator (the report says so).

A sweep of one server starts with a short closed-loop probe (``probe_s`` at
``PROBE_CONCURRENCY`` connections): its throughput ``X`` is about where the
knee is (``PAST_SLO_SCALE × X`` if the probe's own p99 already missed the
SLO), so the open-loop steps are offered at ``fractions ×`` that. The steps
thus land around each variant's own knee, whatever the machine.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from common.results import Results
from infra.apps import BARE_APP, SLOW_APP
from infra.cpus import client_cpu, load_average, pin, server_cpu
from infra.loadgen import run_load
from infra.uvicorn_server import UvicornServer, start_uvicorn
from labs.load_testing.capacity import (
    Sweep,
    capacity_sweep,
    measure_step,
    probe_capacity,
)
from labs.load_testing.knee_search import search_knee
from labs.load_testing.openloop_run import run_open_loop
from labs.load_testing.slow_app import slow_env
from labs.load_testing.variants import (
    Comparison,
    StartServer,
    Variant,
    compare_variants,
    serving_variants,
    start_variant_for,
)
from labs.load_testing.workload import Request, Workload

log = logging.getLogger(__name__)

PROBE_CONCURRENCY = 16
PAST_SLO_SCALE = 0.6  # where to centre the steps when the probe already missed the SLO


@dataclass(frozen=True)
class Plan:
    """How much to measure (run: short; bench: every variant, longer steps)."""

    variants: Sequence[str]
    fractions: Sequence[float]  # offered rates as fractions of the probe's throughput
    step_s: float  # seconds per open-loop step
    probe_s: float = 1.5
    slo_ms: float = 50.0
    max_extra: int = 3  # steps added past the last rate while the SLO still holds
    # Bisection (knee_search.py) instead of the fixed fractions: the knee to
    # ± tolerance, each rate run min_runs..max_runs times until stable.
    bisect: bool = False
    tolerance: float = 0.05
    min_runs: int = 2
    max_runs: int = 4


@dataclass(frozen=True)
class Study:
    """What a run or a bench loads the servers with, and how busy the machine was.

    ``Study.begin`` records the setup on the page first; ``end`` closes the
    page with the load average before and after: figures measured while
    other processes held the cores move from run to run, and the page says so.
    """

    model: Any  # the production model the ranking service serves
    workload: Workload
    requests: list[Request]
    load_start: float  # the 1-minute load average when the study began

    @classmethod
    def begin(
        cls, results: Results, plan: Plan, *, preset: str, n_requests: int
    ) -> Study:
        from labs.training import ensure_production_model

        model = ensure_production_model(preset)
        workload = Workload.from_shopstream(preset)
        requests = workload.requests(n_requests, seed=0)
        results.add("preset", preset)
        results.add("model_version", model.version)
        results.add("slo_p99_ms", plan.slo_ms)
        load_start = results.add("load_average_start", load_average())
        return cls(model, workload, requests, load_start)

    def end(self, results: Results) -> None:
        load_end = results.add("load_average_end", load_average())
        busy = max(self.load_start, load_end) > (os.cpu_count() or 1) + 1
        results.text(
            f"_The 1-minute load average was {self.load_start:.1f} at the start and "
            f"{load_end:.1f} at the end, on {os.cpu_count()} cores (this study adds "
            "~2): "
            + (
                "other processes competed for the cores, so these figures move from "
                "run to run; compare variants within one run only._"
                if busy
                else "the machine was otherwise quiet._"
            )
        )


def sweep_server(
    server: UvicornServer,
    requests: Sequence[Request],
    plan: Plan,
    generator_ceiling_rps: float = math.inf,
) -> Sweep:
    """Probe the server closed-loop, then sweep it open-loop around its knee.

    With ``plan.bisect`` the open-loop part is a bisection from the probe's
    throughput (``knee_search.search_knee``); otherwise steps at
    ``plan.fractions`` of it.
    """
    probe = probe_capacity(
        server.url, requests, concurrency=PROBE_CONCURRENCY, duration_s=plan.probe_s,
        cpu=client_cpu(),
    )  # fmt: skip
    # The probe's throughput is near the knee when its p99 met the SLO; when
    # it did not, the knee is lower.
    top = max(float(probe["rps"]), 10.0)
    if not float(probe["p99_ms"]) <= plan.slo_ms:
        top *= PAST_SLO_SCALE
    if plan.bisect:
        search = search_knee(
            lambda rate: measure_step(
                server.url, requests, rate, plan.step_s, "constant", 5.0,
                server.process.pid, client_cpu(),
            ),
            start_rps=top, slo_ms=plan.slo_ms, tolerance=plan.tolerance,
            min_runs=plan.min_runs, max_runs=plan.max_runs,
            generator_ceiling_rps=generator_ceiling_rps,
        )  # fmt: skip
        return Sweep(plan.slo_ms, search.steps(), closed_loop=probe, search=search)
    rates = [round(f * top, 1) for f in plan.fractions]
    log.info(
        "probe: %.0f rps at %d connections; rates %s", top, PROBE_CONCURRENCY, rates
    )
    sweep = capacity_sweep(
        server.url, requests, rates, slo_ms=plan.slo_ms, duration_s=plan.step_s,
        server_pid=server.process.pid, cpu=client_cpu(), max_extra=plan.max_extra,
    )  # fmt: skip
    sweep.closed_loop = probe
    return sweep


@contextlib.contextmanager
def side_by_side(
    variants: Sequence[Variant], start: StartServer
) -> Iterator[StartServer]:
    """Start every variant's server at once; hand them out one at a time.

    A service's start-up is mostly imports and loading, so starting them
    together saves a minute; each is still *loaded* alone, while the others
    sit idle. A server that failed to start raises its error when handed
    out (``compare_variants`` then reports the variant as skipped). All are
    stopped on exit.
    """

    def enter(variant: Variant) -> tuple[Any, UvicornServer]:
        manager = start(variant)
        return manager, manager.__enter__()

    running: dict[str, tuple[Any, UvicornServer]] = {}
    failed: dict[str, BaseException] = {}
    with ThreadPoolExecutor(max(1, len(variants))) as pool:
        futures = {v.name: pool.submit(enter, v) for v in variants}
    for name, future in futures.items():
        try:
            running[name] = future.result()
        except Exception as exc:  # reported when the variant is handed out
            failed[name] = exc

    @contextlib.contextmanager
    def handout(variant: Variant) -> Iterator[UvicornServer]:
        if variant.name in failed:
            raise failed[variant.name]
        yield running[variant.name][1]

    try:
        yield handout
    finally:
        for manager, _ in running.values():
            manager.__exit__(None, None, None)


def sweep_variants(
    plan: Plan,
    *,
    preset: str,
    requests: Sequence[Request],
    registry_root: str | None = None,
    after_sweep: Callable[[Variant, UvicornServer], None] | None = None,
    generator_ceiling_rps: float = math.inf,
) -> Comparison:
    """The same sweep over every variant of ``plan``, loaded one server at a time.

    ``after_sweep(variant, server)`` runs after each sweep, server still up.
    """
    variants = serving_variants(plan.variants)
    start = start_variant_for(
        preset, registry_root=registry_root, server_cpu=server_cpu()
    )
    by_server: dict[str, Variant] = {}

    def sweep(server: UvicornServer) -> Sweep:
        result = sweep_server(server, requests, plan, generator_ceiling_rps)
        if after_sweep is not None:
            after_sweep(by_server[server.url], server)
        return result

    def tracked(variant: Variant) -> AbstractContextManager[UvicornServer]:
        @contextlib.contextmanager
        def manager() -> Iterator[UvicornServer]:
            with handout(variant) as server:
                by_server[server.url] = variant
                yield server

        return manager()

    with side_by_side(variants, start) as handout:
        return compare_variants(variants, tracked, sweep, plan.slo_ms)


def coordinated_omission(
    service_ms: float = 10.0, overload: float = 1.5, duration_s: float = 2.0
) -> dict[str, dict[str, float]]:
    """One slowed server (capacity ``1000 / service_ms``) loaded three ways.

    Closed loop (one connection, like a locust user without think time),
    open loop below capacity, and open loop at ``overload ×`` capacity.
    """
    capacity = 1000.0 / service_ms
    requests = [("/score", {"user_id": i, "item_id": i}) for i in range(100)]
    server = start_uvicorn(SLOW_APP, env=slow_env(service_ms))
    try:
        closed = run_load(
            server.url, "/score", [b for _, b in requests], concurrency=1,
            duration_s=duration_s, cpu=client_cpu(),
        )  # fmt: skip
        out = {
            "closed loop, 1 connection": {
                "offered rps": math.nan,
                "throughput rps": closed.ok_rps,
                "p50 ms": closed.p50_ms,
                "p99 ms": closed.p99_ms,
                "max ms": closed.latency_ms.get("max", math.nan),
            }
        }
        for label, factor in (
            ("open loop, 0.5× capacity", 0.5),
            (f"open loop, {overload:g}× capacity", overload),
        ):
            result = run_open_loop(
                server.url, requests, rate=factor * capacity, duration_s=duration_s,
                cpu=client_cpu(),
            )  # fmt: skip
            out[label] = {
                "offered rps": result.rate,
                "throughput rps": result.ok_rps,
                "p50 ms": result.p50_ms,
                "p99 ms": result.p99_ms,
                "max ms": float(result.ok_latency_ms.max())
                if result.ok.any()
                else math.nan,
            }
        return out
    finally:
        server.stop()


def loadgen_ceiling(
    requests: Sequence[Request],
    *,
    start_rps: float = 250.0,
    max_rps: float = 16_000.0,
    step_s: float = 1.5,
) -> dict[str, Any]:
    """The open-loop generator against the empty endpoint: its own ceiling.

    Offered rates double from ``start_rps`` until the answered rate falls
    below 80% of the offered one (or ``max_rps``); the highest 2xx
    throughput reached is the instrument's ceiling: no figure above it is
    trusted. infra's closed loop (32 connections) runs beside for comparison.
    """
    server = start_uvicorn(BARE_APP)
    try:
        pin(server.process.pid, server_cpu())
        steps = []
        rate = start_rps
        while rate <= max_rps:
            result = run_open_loop(
                server.url, requests, rate=rate, duration_s=step_s, cpu=client_cpu(),
                timeout_s=2.0,
            )  # fmt: skip
            steps.append(
                {
                    "offered rps": rate,
                    "throughput rps": result.ok_rps,
                    "p99 ms": result.p99_ms,
                    "send lag p99 ms": result.send_lag_ms.get("p99", math.nan),
                    "failed": result.failed,
                }
            )
            if result.ok_rps < 0.8 * rate:
                break
            rate *= 2
        closed = run_load(
            server.url, "/score", [b for _, b in requests], concurrency=32,
            duration_s=step_s, cpu=client_cpu(),
        )  # fmt: skip
    finally:
        server.stop()
    return {
        "loadgen_max_rps": max(s["throughput rps"] for s in steps),
        "closed_loop_bare_rps": closed.ok_rps,
        "steps": steps,
    }

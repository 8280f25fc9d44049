"""``labkit run online_serving``: the service under load, one behaviour at a time.

    labkit run online_serving                  # small preset; results/online_serving/
    labkit run online_serving --preset tiny

Every section starts real servers (uvicorn subprocesses on 127.0.0.1, one
worker, pinned to core 0) and loads them with ``infra/loadgen.py`` in its
own process (pinned to core 1), closed loop, for a couple of seconds:

1. **Latency budget**: where a request's time goes (parse, queue, feature
   read, model, serialise), measured inside the server, batching off and on.
2. **Batching**: requests/s and p50/p99 for ``/score`` and ``/rank`` (100
   candidates), off and on.
3. **A slow store**: every read delayed on purpose, with and without the
   feature timeout (fallback to popularity).
4. **Overload**: far more connections than the service needs, with and
   without the bounded queue (503 + Retry-After).
5. **Hot swap**: a new version promoted in the middle of a load run.
6. **Ray Serve**: the same app on 2 replicas behind Serve's proxy.
7. **Faults**: Redis killed under load and started again, then the service
   itself killed (SIGKILL) and restarted on its port: what clients saw.

Sections 1–2 are in ``run_batching.py``, 3–5 in ``run_resilience.py``, 7 in
``run_faults.py``. The prose under each table is computed from the figures
above it. With ``--mine``, what needs a milestone the copy does not
implement yet is skipped, and the page says so (``measure.Implemented``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from common.results import Results
from infra.ports import free_port
from labs.online_serving import measure
from labs.online_serving.run_batching import RANK_CANDIDATES, batching_sections
from labs.online_serving.run_faults import faults
from labs.online_serving.run_resilience import (
    FEATURE_TIMEOUT_S,
    QUEUE_BOUND,
    SLOW_STORE_S,
    hot_swap,
    overload,
    slow_store,
)

log = logging.getLogger(__name__)

CONCURRENCY = 32
DURATION_S, WARMUP_S = 2.0, 0.5
_load = measure.Load(
    DURATION_S, WARMUP_S, max_requests=2_000_000, concurrency=CONCURRENCY
)


def run(results: Results, *, preset: str = "small") -> None:
    """Measure the service's behaviours on ``preset`` (see the module doc)."""
    from labs.training import ModelRegistry, ensure_production_model

    began = time.perf_counter()
    _load.empty.clear()
    have = measure.Implemented.check(results)
    if have is None:
        return
    model = ensure_production_model(preset)
    results.add("preset", preset)
    results.add("model_version", model.version)
    results.add("concurrency", CONCURRENCY)
    results.add("pinned_cores", measure.two_cores())
    results.add("load_average_start", measure.load_average())
    score = measure.score_payloads(preset, 3000)
    rank = measure.rank_payloads(preset, 300, RANK_CANDIDATES)
    results.text(
        f"ShopStream `{preset}`, model `{model.version}`, SQLite online store. "
        f"Each run: {CONCURRENCY} keep-alive connections, closed loop, "
        f"{WARMUP_S} s warm-up then {DURATION_S} s measured; server on core 0, load "
        "generator on core 1."
    )
    with measure.private_registry(model.registry_root) as registry_root:
        base = {"preset": preset, "registry_root": str(registry_root)}
        on = {**base, "max_batch_size": 32}
        wanted = {  # the servers this copy can run, by role
            "off": have.settings(**base, max_batch_size=1, max_queue_size=0),
            "unbounded": have.settings(**on, max_queue_size=0, model_poll_s=0.2),
            "unguarded": have.settings(
                **base, feature_delay_s=SLOW_STORE_S, feature_timeout_s=0
            ),
        }
        if have.batching:
            wanted["on"] = have.settings(**on, max_queue_size=QUEUE_BOUND)
        if have.resilience:
            wanted["guarded"] = have.settings(
                **base,
                feature_delay_s=SLOW_STORE_S,
                feature_timeout_s=FEATURE_TIMEOUT_S,
            )
        clock = {"setup": time.perf_counter() - began}
        with measure.serving(*wanted.values()) as started:
            servers = dict(zip(wanted, started, strict=True))
            clock["servers"] = time.perf_counter() - began - sum(clock.values())
            modes = {m: servers[m] for m in ("off", "on") if m in servers}
            batching_sections(results, _load, modes, score, rank, have)
            guarded, unguarded = servers.get("guarded"), servers["unguarded"]
            slow_store(results, _load, guarded, unguarded, rank)
            bounded = servers.get("on") if have.resilience else None
            overload(results, _load, bounded, servers["unbounded"], score)
            if have.resilience:
                registry = ModelRegistry(registry_root)
                hot_swap(results, _load, servers["unbounded"], registry, score)
            clock["load runs"] = time.perf_counter() - began - sum(clock.values())
        if have.serve:
            _ray_serve(results, have, base, score)
            clock["ray serve"] = time.perf_counter() - began - sum(clock.values())
        faults(results, have, base, score)
        clock["faults"] = time.perf_counter() - began - sum(clock.values())
    results.add("load_average_end", measure.load_average())
    f = results.figures
    caveat = (
        f" {len(_load.empty)} load run(s) measured nothing (requests/s 0, p99 nan): "
        "every request outlasted the measured window, a sign of an overloaded machine."
        if _load.empty
        else ""
    )
    busy = max(f["load_average_start"], f["load_average_end"]) > 2.5
    verdict = (
        "other processes shared the cores with the server and the load generator, "
        "so the figures above are lower and noisier than on a quiet machine."
        if busy
        else "the server and the load generator had the cores to themselves."
    )
    results.text(
        f"## The machine\n\nLoad average {f['load_average_start']:.1f} at the start "
        f"and {f['load_average_end']:.1f} at the end, on 2 cores: {verdict}{caveat}"
    )
    results.add("seconds", {**clock, "total": time.perf_counter() - began})


def _ray_serve(
    results: Results, have: measure.Implemented, base: dict[str, Any], score: list[Any]
) -> None:
    import ray

    from infra.ray_session import init_ray, shutdown_ray
    from labs.online_serving.serve_app import deploy, shutdown

    started_here = not ray.is_initialized()
    init_ray()
    try:
        url = deploy(
            have.settings(**base, max_batch_size=32),
            port=free_port(),
            num_replicas=2,
        )
        try:
            result = _load(url, "/score", score, cpu=None)
        finally:
            shutdown()
    finally:
        if started_here:
            shutdown_ray()
    figures = measure.row("Ray Serve, 2 replicas (0.5 CPU each)", result)
    results.add("ray_serve", figures)
    uvicorn = results.figures["batching"]
    batching = uvicorn.get("score_on", uvicorn["score_off"])
    results.text(
        "## 6. Ray Serve\n\nThe same FastAPI app, built on each replica "
        "(`serve_app.py`), behind Serve's HTTP proxy."
    )
    results.table([figures])
    results.text(
        f"On this 2-core machine Serve answers {result.ok_rps:.0f} /score requests/s "
        f"(p99 {result.p99_ms:.0f} ms) against {batching['rps']:.0f} for one uvicorn "
        "worker: every request crosses the proxy and an actor call before reaching a "
        "replica, and proxy, replicas and load generator share two cores. What Serve "
        "buys is the step past one machine: replicas anywhere in the cluster, "
        "`num_replicas` or autoscaling on in-flight requests, rolling updates."
    )

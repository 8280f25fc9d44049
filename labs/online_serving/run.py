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

The prose under each table is computed from the figures above it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from common.results import Results
from infra.loadgen import LoadResult
from infra.ports import free_port
from labs.online_serving import measure
from labs.online_serving.settings import Settings

log = logging.getLogger(__name__)

CONCURRENCY = 32
DURATION_S, WARMUP_S = 2.0, 0.5
RANK_CANDIDATES = 100
SLOW_STORE_S, FEATURE_TIMEOUT_S = 0.2, 0.03
OVERLOAD_CONCURRENCY, QUEUE_BOUND = 256, 64
_load = measure.Load(
    DURATION_S, WARMUP_S, max_requests=2_000_000, concurrency=CONCURRENCY
)


def run(results: Results, *, preset: str = "small") -> None:
    """Measure the service's behaviours on ``preset`` (see the module doc)."""
    from labs.training import ModelRegistry, ensure_production_model

    began = time.perf_counter()
    _load.empty.clear()
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
        settings = [
            Settings(**base, max_batch_size=32, max_queue_size=QUEUE_BOUND),  # on
            Settings(**base, max_batch_size=1, max_queue_size=0),  # off
            Settings(**base, max_batch_size=32, max_queue_size=0, model_poll_s=0.2),
            Settings(
                **base,
                feature_delay_s=SLOW_STORE_S,
                feature_timeout_s=FEATURE_TIMEOUT_S,
            ),
            Settings(**base, feature_delay_s=SLOW_STORE_S, feature_timeout_s=0),
        ]
        clock = {"setup": time.perf_counter() - began}
        with measure.serving(*settings) as (on, off, unbounded, guarded, unguarded):
            clock["servers"] = time.perf_counter() - began - sum(clock.values())
            _budget_and_batching(results, {"on": on, "off": off}, score, rank)
            _slow_store(results, guarded, unguarded, rank)
            _overload(results, on, unbounded, score)
            _hot_swap(results, unbounded, ModelRegistry(registry_root), score)
            clock["load runs"] = time.perf_counter() - began - sum(clock.values())
        _ray_serve(results, base, score)
        clock["ray serve"] = time.perf_counter() - began - sum(clock.values())
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


def _budget_and_batching(
    results: Results, servers: dict[str, Any], score: list[Any], rank: list[Any]
) -> None:
    figures: dict[str, dict[str, Any]] = {}
    for mode, server in servers.items():
        for name, path, payloads in (
            ("score", "/score", score),
            ("rank", "/rank", rank),
        ):
            before = measure.scrape(server.url)
            result = _load(server.url, path, payloads)
            after = measure.scrape(server.url)
            figures[f"{name}_{mode}"] = {
                "rps": result.ok_rps,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "failed": result.failed,
                "mean_batch_size": measure.mean_batch_size(before, after),
                "server_mean_ms": measure.server_mean_ms(before, after, path),
                "stage_ms": measure.stage_budget(before, after),
            }
    results.add("batching", figures)
    results.text("## 1. Where a request's time goes")
    stages = list(figures["score_on"]["stage_ms"])
    rows = []
    for stage in [*stages, "server total"]:
        row: dict[str, Any] = {"stage (mean ms per request)": stage}
        for key, f in figures.items():
            name, mode = key.split("_")
            value = (
                f["server_mean_ms"] if stage == "server total" else f["stage_ms"][stage]
            )
            row[f"/{name} {mode}"] = value
        rows.append(row)
    results.table(rows)
    so, sn = figures["score_off"], figures["score_on"]
    ro, rn = figures["rank_off"], figures["rank_on"]
    biggest = max(so["stage_ms"], key=so["stage_ms"].get)
    results.text(
        "*parse* runs from the request's arrival at the app to its handler: reading "
        "the body, decoding and validating it, and waiting for the one event loop, "
        "which parses and answers every request in turn. *queue* is the wait for a "
        "batch (and for the batch before it to finish); *features* and *model* are "
        "the batch's store read and forward pass in worker threads, including the "
        "wait for a free worker (with batching off, the requests in flight queue for "
        "the one model thread); *serialise* orders the items and writes the JSON."
    )
    results.text(
        f"With batching off, a /score request spends most of its server time in "
        f"*{biggest}* ({so['stage_ms'][biggest]:.2f} ms of {so['server_mean_ms']:.2f} ms). "
        f"Each request pays for a whole feature read and a whole forward pass (the "
        f"model pads every call to a block of 256 rows) and two thread hand-offs. With "
        f"batching on, {sn['mean_batch_size']:.1f} requests share each call, so one "
        f"request's share of the model is ~"
        f"{sn['stage_ms']['model'] / sn['mean_batch_size']:.3f} ms, but it still *waits* "
        f"for the whole call ({sn['stage_ms']['model']:.2f} ms) and for the batch before "
        f"it (queue {sn['stage_ms']['queue']:.2f} ms). The client sees p50 "
        f"{sn['p50_ms']:.1f} ms against {sn['server_mean_ms']:.1f} ms inside the app: "
        "the rest is uvicorn's HTTP parsing and the socket. For /rank the feature read "
        f"of {RANK_CANDIDATES} rows dominates ({ro['stage_ms']['features']:.2f} ms off, "
        f"{rn['stage_ms']['features']:.2f} ms on for {rn['mean_batch_size']:.1f} "
        "requests): it grows with the rows, so batching saves only its fixed cost."
    )
    results.text("## 2. Batching off and on")
    table = []
    for key, f in figures.items():
        name, mode = key.split("_")
        table.append(
            {
                "route": f"/{name}"
                + (f" ({RANK_CANDIDATES})" if name == "rank" else ""),
                "batching": mode,
                "requests/s": f["rps"],
                "p50 ms": f["p50_ms"],
                "p99 ms": f["p99_ms"],
                "mean batch": f["mean_batch_size"],
                "failed": f["failed"],
            }
        )
    results.table(table)
    gain_score = sn["rps"] / so["rps"] if so["rps"] else float("nan")
    gain_rank = rn["rps"] / ro["rps"] if ro["rps"] else float("nan")
    results.add("score_batching_speedup", gain_score)
    results.add("rank_batching_speedup", gain_rank)
    results.text(
        f"Batching multiplies /score throughput by {gain_score:.2f} (p99 "
        f"{so['p99_ms']:.1f} → {sn['p99_ms']:.1f} ms) and /rank by {gain_rank:.2f} "
        f"(p99 {ro['p99_ms']:.1f} → {rn['p99_ms']:.1f} ms). It pays where a call's fixed "
        "cost dominates (one row per request); it stops paying when the work grows "
        "with the rows (a /rank request already brings 100 rows, and its feature read "
        "is per row), and when the batch wait exceeds what the merged call saves."
    )


def _slow_store(
    results: Results, guarded: Any, unguarded: Any, rank: list[Any]
) -> None:
    figures = {}
    for label, server in (("timeout", guarded), ("no timeout", unguarded)):
        before = measure.scrape(server.url)
        result = _load(server.url, "/rank", rank)
        after = measure.scrape(server.url)
        scored = measure.scored_requests(before, after) or float("nan")
        figures[label] = {
            **measure.row(label, result),
            "fallback share": measure.fallbacks(before, after) / scored,
        }
    results.add("slow_store", figures)
    results.text(
        f"## 3. A slow store: every read takes {SLOW_STORE_S * 1e3:.0f} ms more\n\n"
        f"With `feature_timeout_s={FEATURE_TIMEOUT_S}` a read that has not answered is "
        "abandoned and the request is answered from popularity (each item's 7-day CTR, "
        "read at start-up), flagged `fallback: true`; at most `feature_threads` reads "
        "wait on the store at once, so stuck reads cannot pile up."
    )
    results.table(list(figures.values()))
    t, n = figures["timeout"], figures["no timeout"]
    results.text(
        f"With the timeout, p99 is {t['p99 ms']:.0f} ms and {t['fallback share']:.0%} of "
        f"answers are fallbacks; without it every request waits for the store: p99 "
        f"{n['p99 ms']:.0f} ms at {n['requests/s']:.0f} requests/s (against "
        f"{t['requests/s']:.0f}). Popularity is a worse ranking, but an answer in "
        "budget beats a perfect one too late; the flag lets the caller count and log it."
    )


def _overload(results: Results, bounded: Any, unbounded: Any, score: list[Any]) -> None:
    bound = f"bounded queue ({QUEUE_BOUND})"
    runs = (
        ("unbounded queue", unbounded, True),
        (f"{bound}, clients honour Retry-After", bounded, True),
        (f"{bound}, clients retry at once", bounded, False),
    )
    figures = {}
    for label, server, polite in runs:
        result = _load(
            server.url,
            "/score",
            score,
            concurrency=OVERLOAD_CONCURRENCY,
            honour_retry_after=polite,
        )
        figures[label] = {
            **measure.row(label, result),
            "503 per s": result.failures.get("http_503", 0) / result.duration_s,
            "503 p99 ms": result.rejected_latency_ms.get("p99", float("nan")),
        }
    results.add("overload", figures)
    results.text(
        f"## 4. Overload: {OVERLOAD_CONCURRENCY} connections, {CONCURRENCY} are enough\n\n"
        "A closed loop cannot push the arrival rate past the service, but it can hold "
        "many more requests in flight than the service needs; by Little's law each then "
        "waits about `in flight / throughput`. Three runs: no admission limit; a limit "
        f"of {QUEUE_BOUND} pending requests with clients that wait the `Retry-After` of "
        "a 503; the same limit with clients that retry at once."
    )
    results.table(list(figures.values()))
    u = figures["unbounded queue"]
    p = figures[f"{bound}, clients honour Retry-After"]
    r = figures[f"{bound}, clients retry at once"]
    little_u = (
        1e3 * OVERLOAD_CONCURRENCY / u["requests/s"]
        if u["requests/s"]
        else float("nan")
    )
    little_b = 1e3 * QUEUE_BOUND / p["requests/s"] if p["requests/s"] else float("nan")
    verdict = "lower" if p["p99 ms"] < u["p99 ms"] else "not lower"
    results.text(
        f"Unbounded, all {OVERLOAD_CONCURRENCY} requests are admitted and wait: p99 "
        f"{u['p99 ms']:.0f} ms (Little's law: {OVERLOAD_CONCURRENCY} / "
        f"{u['requests/s']:.0f} per s = {little_u:.0f} ms on average). With the limit and "
        f"polite clients, admitted requests see p99 {p['p99 ms']:.0f} ms ({verdict}; "
        f"{QUEUE_BOUND} / {p['requests/s']:.0f} per s = {little_b:.0f} ms), "
        f"{p['503 per s']:.0f} requests/s are turned away within "
        f"{p['503 p99 ms']:.1f} ms (p99), and {p['requests/s']:.0f} requests/s succeed "
        f"against {u['requests/s']:.0f}. When rejected clients retry at once, the "
        f"rejections arrive at {r['503 per s']:.0f}/s and are answered by the same event "
        f"loop: {r['requests/s']:.0f} successful requests/s at p99 {r['p99 ms']:.0f} ms. "
        "A bounded queue caps the wait only if a rejection is cheap and clients back "
        "off (Retry-After, retry budgets, jitter)."
    )


def _hot_swap(results: Results, server: Any, registry: Any, score: list[Any]) -> None:
    import torch

    old = registry.resolve("production")
    new = registry.load("production")
    with torch.no_grad():
        new.model.mlp[-1].bias += 0.1  # a different model, for the demonstration
    version = registry.register(new, {**new.metadata, "note": "hot-swap demo"})
    outcome: dict[str, LoadResult] = {}

    def load() -> None:
        outcome["result"] = _load(
            server.url, "/score", score, duration_s=4.0, count_header="x-model-version"
        )

    runner = threading.Thread(target=load)
    runner.start()
    time.sleep(WARMUP_S + 1.5)
    registry.promote(version, "production")
    runner.join()
    result = outcome["result"]
    figures = {
        "failed": result.failed,
        "ok": result.ok,
        "by_version": result.header_counts,
        "p99_ms": result.p99_ms,
        "old": old,
        "new": version,
    }
    results.add("hot_swap", figures)
    results.text(
        f"## 5. Hot swap under load\n\n`{version}` was promoted to `production` 1.5 s "
        f"into a 4 s run at {CONCURRENCY} connections. Answers by version: "
        + ", ".join(f"`{k}` {v:,}" for k, v in sorted(result.header_counts.items()))
        + f"; **failed requests: {result.failed}** (p99 {result.p99_ms:.1f} ms). The "
        "service polls the alias, loads and warms the new version in a thread while "
        "the old one serves, then swaps one reference between two batches."
    )


def _ray_serve(results: Results, base: dict[str, Any], score: list[Any]) -> None:
    import ray

    from infra.ray_session import init_ray
    from labs.online_serving.serve_app import deploy, shutdown

    started_here = not ray.is_initialized()
    init_ray()
    try:
        url = deploy(
            Settings(**base, max_batch_size=32), port=free_port(), num_replicas=2
        )
        try:
            result = _load(url, "/score", score, cpu=None)
        finally:
            shutdown()
    finally:
        if started_here:
            ray.shutdown()
    figures = measure.row("Ray Serve, 2 replicas (0.5 CPU each)", result)
    results.add("ray_serve", figures)
    batching = results.figures["batching"]["score_on"]
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

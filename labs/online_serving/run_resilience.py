"""Sections 3 to 5 of ``labkit run online_serving``: a slow store, overload, a hot swap.

    slow_store(results, load, guarded, unguarded, rank)     # guarded: None without m4
    overload(results, load, bounded, unbounded, score)      # bounded: None without m4
    hot_swap(results, load, server, registry, score)        # needs m4

Each compares a server with a resilience feature on against one with it off,
under the same load; without m4 only the "off" rows are measured.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from common.results import Results
from infra.loadgen import LoadResult
from labs.online_serving import measure

SLOW_STORE_S, FEATURE_TIMEOUT_S = 0.2, 0.03
OVERLOAD_CONCURRENCY, QUEUE_BOUND = 256, 64


def slow_store(
    results: Results,
    load: measure.Load,
    guarded: Any | None,
    unguarded: Any,
    rank: list[Any],
) -> None:
    figures = {}
    for label, server in (("timeout", guarded), ("no timeout", unguarded)):
        if server is None:
            continue
        before = measure.scrape(server.url)
        result = load(server.url, "/rank", rank)
        after = measure.scrape(server.url)
        figures[label] = measure.row(label, result)
        if after:  # metrics on (m5): how many answers were fallbacks
            scored = measure.scored_requests(before, after) or float("nan")
            figures[label]["fallback share"] = measure.fallbacks(before, after) / scored
    results.add("slow_store", figures)
    results.text(
        f"## 3. A slow store: every read takes {SLOW_STORE_S * 1e3:.0f} ms more\n\n"
        f"With `feature_timeout_s={FEATURE_TIMEOUT_S}` a read that has not answered is "
        "abandoned and the request is answered from popularity (each item's 7-day CTR, "
        "read at start-up), flagged `fallback: true`; at most `feature_threads` reads "
        "wait on the store at once, so stuck reads cannot pile up."
    )
    results.table(list(figures.values()))
    if "timeout" not in figures:
        results.text("Only the run without the timeout: the timeout needs m4.")
        return
    t, n = figures["timeout"], figures["no timeout"]
    t.setdefault("fallback share", float("nan"))
    results.text(
        f"With the timeout, p99 is {t['p99 ms']:.0f} ms and {t['fallback share']:.0%} of "
        f"answers are fallbacks; without it every request waits for the store: p99 "
        f"{n['p99 ms']:.0f} ms at {n['requests/s']:.0f} requests/s (against "
        f"{t['requests/s']:.0f}). Popularity is a worse ranking, but an answer in "
        "budget beats a perfect one too late; the flag lets the caller count and log it."
    )


def overload(
    results: Results,
    load: measure.Load,
    bounded: Any | None,
    unbounded: Any,
    score: list[Any],
) -> None:
    bound = f"bounded queue ({QUEUE_BOUND})"
    runs = (
        ("unbounded queue", unbounded, True),
        (f"{bound}, clients honour Retry-After", bounded, True),
        (f"{bound}, clients retry at once", bounded, False),
    )
    figures = {}
    for label, server, polite in runs:
        if server is None:
            continue
        result = load(
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
        f"## 4. Overload: {OVERLOAD_CONCURRENCY} connections, {load.concurrency} are "
        "enough\n\n"
        "A closed loop cannot push the arrival rate past the service, but it can hold "
        "many more requests in flight than the service needs; by Little's law each then "
        "waits about `in flight / throughput`. Three runs: no admission limit; a limit "
        f"of {QUEUE_BOUND} pending requests with clients that wait the `Retry-After` of "
        "a 503; the same limit with clients that retry at once."
    )
    results.table(list(figures.values()))
    if bounded is None:
        results.text("Only the run without a limit: the bounded queue needs m4.")
        return
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


def hot_swap(
    results: Results, load: measure.Load, server: Any, registry: Any, score: list[Any]
) -> None:
    import torch

    old = registry.resolve("production")
    new = registry.load("production")
    with torch.no_grad():
        new.model.mlp[-1].bias += 0.1  # a different model, for the demonstration
    version = registry.register(new, {**new.metadata, "note": "hot-swap demo"})
    outcome: dict[str, LoadResult] = {}

    def under_load() -> None:
        outcome["result"] = load(
            server.url, "/score", score, duration_s=4.0, count_header="x-model-version"
        )

    runner = threading.Thread(target=under_load)
    runner.start()
    time.sleep(load.warmup_s + 1.5)
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
        f"into a 4 s run at {load.concurrency} connections. Answers by version: "
        + ", ".join(f"`{k}` {v:,}" for k, v in sorted(result.header_counts.items()))
        + f"; **failed requests: {result.failed}** (p99 {result.p99_ms:.1f} ms). The "
        "service polls the alias, loads and warms the new version in a thread while "
        "the old one serves, then swaps one reference between two batches."
    )

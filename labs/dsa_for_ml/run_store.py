"""The sections of ``labkit run dsa_for_ml`` that run against the feature store.

    cache_latency(results, store, access, preset)   # m1: an LRU over SQLite and Redis
    streaming_windows(results, store, events)       # m5: streaming counts vs batch rows

Where the lab's structures meet Lab 1's store: what an LRU in front of the
online store saves per ranking request (SQLite, and Redis when installed),
and whether a streaming window counter agrees with the store's batch rows
and with what its online rows serve. The measurements are in
``measure_store.py``; ``run.py`` holds the other sections and their order.
"""

from __future__ import annotations

from typing import Any

from common.results import Results, fmt
from infra.redis_server import redis_binary, start_redis
from labs.dsa_for_ml import measure_store
from labs.dsa_for_ml.workloads import AccessLog
from labs.feature_store.build import build_store
from labs.feature_store.store import FeatureStore

LATENCY_CAPACITIES = (None, 500, 5_000)  # None: no cache
LATENCY_WARM, LATENCY_TIMED = 1_500, 2_000  # requests: untimed, then timed
HOUR_US, DAY_US = 3_600_000_000, 86_400_000_000


# --- m1 -----------------------------------------------------------------------------------
def cache_latency(
    results: Results, store: FeatureStore, access: AccessLog, preset: str
) -> None:
    rows = [{"backend": "sqlite", **r} for r in _latency(store, access)]
    if redis_binary() is None:
        results.text("_Redis is not installed: the Redis rows are skipped._")
    else:
        server = start_redis()
        try:
            redis_store = build_store(preset, online="redis", url=server.url)
            try:
                rows += [
                    {"backend": "redis", **r} for r in _latency(redis_store, access)
                ]
            finally:
                redis_store.close()
        finally:
            server.stop()
    results.add("serving_latency", rows)
    results.table(
        rows,
        title=(
            f"get_online_features per request (user + slate, "
            f"{len(store.feature_names())} features in {len(store.views)} views): "
            f"{LATENCY_TIMED:,} timed after {LATENCY_WARM:,} warm-up requests, "
            "the configurations interleaved request by request"
        ),
        columns=[
            "backend",
            "capacity",
            "hit_rate",
            "backend_reads_per_request",
            "p50_ms",
            "p99_ms",
        ],
    )
    lines, speedup = [], {}
    for backend in ("sqlite", "redis"):
        mine = [r for r in rows if r["backend"] == backend]
        if not mine:
            continue
        base = mine[0]
        best = min(mine[1:], key=lambda r: r["p50_ms"])
        speedup[backend] = base["p50_ms"] / best["p50_ms"]
        lines.append(
            f"- {backend}: p50 {fmt(base['p50_ms'])} ms without a cache, "
            f"{fmt(best['p50_ms'])} ms with {best['capacity']:,} entries "
            f"({speedup[backend]:.1f}x; hit rate {best['hit_rate']:.0%}, "
            f"{best['backend_reads_per_request']:.2f} backend reads per request "
            f"instead of 2); p99 {fmt(base['p99_ms'])} → {fmt(best['p99_ms'])} ms."
        )
    results.add("cache_speedup_p50", speedup)
    base, small = rows[0], rows[1]
    verdict = "slower" if small["p50_ms"] > base["p50_ms"] else "faster"
    results.text(
        "\n".join(lines) + f"\n\nWith {small['capacity']:,} entries the cache answers "
        f"{small['hit_rate']:.0%} of key lookups, yet a request still makes "
        f"{small['backend_reads_per_request']:.2f} of its 2 backend reads: a batch "
        "pays the round trip if any one of its keys misses, so what saves latency "
        "is the share of requests that hit completely. On SQLite that small cache "
        f"is {verdict} than none (p50 {fmt(small['p50_ms'])} against "
        f"{fmt(base['p50_ms'])} ms)"
        + (
            ": an in-process B-tree lookup costs about what the cache's own "
            "bookkeeping does, so a cache pays where a read crosses the network."
            if verdict == "slower"
            else "."
        )
    )


def _latency(store: FeatureStore, access: AccessLog) -> list[dict[str, Any]]:
    return measure_store.serving_latency(
        store, access, LATENCY_CAPACITIES, warm=LATENCY_WARM, timed=LATENCY_TIMED
    )


def streaming_windows(results: Results, store: FeatureStore, events) -> None:
    results.text("## m5 — Sliding-window counts: the streaming path")
    rows = [
        measure_store.streaming_vs_batch(
            store, events, "user_activity", HOUR_US, "impressions_1h", "clicks_1h"
        ),
        measure_store.streaming_vs_batch(
            store, events, "user_activity", DAY_US, "impressions_24h", "clicks_24h"
        ),
    ]
    results.add("streaming_vs_batch", rows)
    results.table(
        rows, title="Streaming counts at every feature row against the batch rows"
    )
    stale = measure_store.online_staleness(store, events, HOUR_US)
    results.add("online_staleness", stale)
    first = rows[0]
    results.text(
        f"The streaming counter, fed in arrival order, equals the feature store's "
        f"batch rows on {first['count_equal_share']:.0%} of {first['queries']:,} "
        f"user rows (counts) and {first['sum_equal_share']:.0%} (click sums), at "
        f"{first['events_per_s']:,.0f} events and queries per second in pure "
        f"Python. {first['dropped_late']:,} events arrived more than an hour after "
        "they happened and never enter a one-hour window, in either path.\n\n"
        f"What the online store serves as `impressions_1h` is the count as of each "
        f"user's *last event*. At the store's present, {stale['served_wrong_share']:.0%} "
        f"of the {stale['served_not_null']:,} users with a live row are served a value "
        f"that differs from the true count over the last hour (mean absolute error "
        f"{stale['mean_abs_error']:.1f}); {stale['served_nonzero_share']:.0%} are "
        f"served a non-zero count where {stale['true_nonzero_share']:.0%} truly have "
        "one. A count over the last hour must be computed at read time (this "
        "counter, or pre-aggregated tiles merged at read), not materialised."
    )

"""``labkit bench dsa_for_ml``: the lab's key figures, from one run.

    labkit bench dsa_for_ml --json                  # small preset, about 30 s
    labkit bench dsa_for_ml --preset tiny --json

Measured in this process with ``time.perf_counter``; speeds are medians of 3
repeats, and every ratio compares figures from this run:

- ``lru``: ns per ``get`` + ``put`` pair on a full cache of 100 and of
  50,000 entries (O(1): the ratio stays near 1); the LRU hit rate on the
  item and user reads at 10% of the distinct keys.
- ``online_cache``: ``get_online_features`` per ranking request (user +
  slate) on SQLite and Redis, without a cache and with 5,000 entries: p50,
  p99, hit rate, ``p50_speedup``.
- ``topk``: the heap over 1,000,000 floats (k = 100) against ``sorted`` and
  ``heapq.nlargest``; reservoir sampling items/s.
- ``hashing``: keys moved when an 11th node joins (against 1/11) and the
  load's max/mean at 100 virtual nodes; lookups/s.
- ``bloom``: measured false-positive rate against theory at 10 bits per key;
  adds/s and lookups/s.
- ``token_bucket``: decisions/s; a flood's admitted count against
  burst + rate·T.
- ``sliding_window``: events/s through the streaming counter and its
  agreement with the feature store's batch rows.
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from common.results import Results
from infra.redis_server import redis_binary, start_redis
from labs.dsa_for_ml import measure, measure_store
from labs.dsa_for_ml.bloom import BloomFilter
from labs.dsa_for_ml.consistent_hash import HashRing
from labs.dsa_for_ml.lru import LRUCache, replay_hit_rate
from labs.dsa_for_ml.rate_limit import TokenBucket
from labs.dsa_for_ml.reservoir import reservoir_sample
from labs.dsa_for_ml.topk import top_k
from labs.dsa_for_ml.workloads import access_log, stream_events
from labs.feature_store.build import build_store

log = logging.getLogger(__name__)

REPEATS = 3
HOUR_US = 3_600_000_000


def _median_s(fn: Callable[[], Any], repeats: int = REPEATS) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return float(np.median(samples))


def bench(results: Results, *, preset: str = "small") -> None:
    """Measure the lab's structures on ShopStream ``preset``."""
    results.add("preset", preset)
    access = access_log(preset)
    store = build_store(preset)
    try:
        results.add("lru", _lru(access))
        results.add("online_cache", _online_cache(store, access, preset))
        results.add("topk", _topk())
        results.add("hashing", _hashing(access))
        results.add("bloom", _bloom())
        results.add("token_bucket", _token_bucket())
        results.add("sliding_window", _sliding_window(store))
    finally:
        store.close()
    figures = results.figures
    rows = [
        {
            "figure": "LRU ns per get+put, 100 entries",
            "value": figures["lru"]["ns_per_op_100"],
        },
        {
            "figure": "LRU ns per get+put, 50,000 entries",
            "value": figures["lru"]["ns_per_op_50000"],
        },
        {
            "figure": "LRU item hit rate at 10% of keys",
            "value": figures["lru"]["item_hit_rate_10pct"],
        },
        {
            "figure": "ring: keys moved 10 -> 11 nodes",
            "value": figures["hashing"]["moved_10_to_11"],
        },
        {
            "figure": "Bloom FPR at 10 bits/key (measured)",
            "value": figures["bloom"]["measured_fpr"],
        },
        {
            "figure": "Bloom FPR at 10 bits/key (theory)",
            "value": figures["bloom"]["theory_fpr"],
        },
        {
            "figure": "token bucket decisions/s",
            "value": figures["token_bucket"]["decisions_per_s"],
        },
        {
            "figure": "sliding window events/s",
            "value": figures["sliding_window"]["events_per_s"],
        },
    ]
    for backend, row in figures["online_cache"].items():
        rows.append(
            {
                "figure": f"{backend}: p50 speedup with cache",
                "value": row["p50_speedup"],
            }
        )
    results.table(rows, title="Key figures")


def _lru(access) -> dict[str, Any]:
    def ns_per_op(capacity: int, ops: int = 100_000) -> float:
        rng = np.random.default_rng(0)
        cache: LRUCache[int, int] = LRUCache(capacity)
        for key in range(capacity):
            cache.put(key, key)
        hot = rng.integers(0, capacity, ops).tolist()
        fresh = iter(range(capacity, capacity + REPEATS * ops))

        def once() -> None:
            for h in hot:
                cache.get(h)
                f = next(fresh)
                cache.put(f, f)

        return _median_s(once) / ops * 1e9

    small, large = ns_per_op(100), ns_per_op(50_000)
    items, users = access.item_keys[:300_000], access.user_keys
    return {
        "ns_per_op_100": small,
        "ns_per_op_50000": large,
        "large_over_small": large / small,
        "item_hit_rate_10pct": replay_hit_rate(items, max(1, len(set(items)) // 10)),
        "user_hit_rate_10pct": replay_hit_rate(users, max(1, len(set(users)) // 10)),
    }


def _online_cache(store, access, preset: str) -> dict[str, Any]:
    def compare(target) -> dict[str, Any]:
        plain, cached = measure_store.serving_latency(
            target, access, [None, 5_000], warm=2_000, timed=3_000
        )
        return {
            "no_cache_p50_ms": plain["p50_ms"],
            "no_cache_p99_ms": plain["p99_ms"],
            "cache_p50_ms": cached["p50_ms"],
            "cache_p99_ms": cached["p99_ms"],
            "hit_rate": cached["hit_rate"],
            "p50_speedup": plain["p50_ms"] / cached["p50_ms"],
        }

    out = {"sqlite": compare(store)}
    if redis_binary() is None:
        log.warning("redis-server is not installed: skipping the Redis figures")
        return out
    server = start_redis()
    try:
        redis_store = build_store(preset, online="redis", url=server.url)
        try:
            out["redis"] = compare(redis_store)
        finally:
            redis_store.close()
    finally:
        server.stop()
    return out


def _topk() -> dict[str, Any]:
    rng = random.Random(0)
    values = [rng.random() for _ in range(1_000_000)]
    heap_s = _median_s(lambda: top_k(values, 100))
    sorted_s = _median_s(lambda: sorted(values, reverse=True)[:100])
    nlargest_s = _median_s(lambda: heapq.nlargest(100, values))
    same = top_k(values, 100) == heapq.nlargest(100, values)
    reservoir_s = _median_s(lambda: reservoir_sample(values, 1_000, random.Random(1)))
    uniform = measure.reservoir_uniformity(n=100, k=10, runs=2_000, seed=0)
    return {
        "n": len(values),
        "k": 100,
        "heap_items_per_s": len(values) / heap_s,
        "sorted_items_per_s": len(values) / sorted_s,
        "nlargest_items_per_s": len(values) / nlargest_s,
        "equals_nlargest": same,
        "reservoir_items_per_s": len(values) / reservoir_s,
        "reservoir_chi2_p_value": uniform["p_value"],
    }


def _hashing(access) -> dict[str, Any]:
    keys = [f"user_activity:{u}" for u in sorted(set(access.user_id.tolist()))] + [
        f"item_stats:{i}" for i in sorted(set(access.item_id.ravel().tolist()))
    ]
    moved = measure.moved_fractions(keys, [10], vnodes=100)[0]
    spread = measure.spread_by_vnodes(keys, keys, 10, [100])[0]
    ring = HashRing([f"cache-{i}" for i in range(10)], vnodes=100)
    lookup_s = _median_s(lambda: [ring.node_for(k) for k in keys])
    return {
        "keys": len(keys),
        "moved_10_to_11": moved["ring_moved"],
        "ideal_1_over_11": moved["ideal_1_over_n_plus_1"],
        "modulo_moved_10_to_11": moved["modulo_moved"],
        "max_over_mean_100_vnodes": spread["keys_max_over_mean"],
        "lookups_per_s": len(keys) / lookup_s,
    }


def _bloom() -> dict[str, Any]:
    n, queries = 100_000, 100_000
    members = [f"member-{i}" for i in range(n)]
    absent = [f"absent-{i}" for i in range(queries)]
    row = measure.bloom_curve(members, absent, [10])[0]
    k = int(row["k"])

    def adds() -> None:
        bloom = BloomFilter(n, m=10 * n, k=k)
        for key in members:
            bloom.add(key)

    filled = BloomFilter(n, m=10 * n, k=k)
    for key in members:
        filled.add(key)
    add_s = _median_s(adds)
    lookup_s = _median_s(lambda: [key in filled for key in absent])
    return {
        "n": n,
        "bits_per_key": 10,
        "k": k,
        "measured_fpr": row["measured_fpr"],
        "theory_fpr": row["theory_fpr"],
        "adds_per_s": n / add_s,
        "lookups_per_s": queries / lookup_s,
    }


def _token_bucket() -> dict[str, Any]:
    decisions = 100_000
    # The production path: time.monotonic() floats turned into exact Fractions.
    bucket = TokenBucket(rate=100_000, burst=1_000)

    def run() -> None:
        for _ in range(decisions):
            bucket.try_acquire()

    seconds = _median_s(run)
    flood = measure.flood(rate=5, burst=10, rps=50, seconds=60)
    return {
        "decisions_per_s": decisions / seconds,
        "flood_admitted": flood["admitted"],
        "flood_burst_plus_rate_t": flood["burst_plus_rate_t"],
        "exact": flood["admitted"] == flood["burst_plus_rate_t"],
        "retry_after_exact": _retry_is_exact(),
    }


def _retry_is_exact() -> bool:
    """Waiting exactly ``retry_after`` passes, a nanosecond less does not."""
    clock = measure.SimClock(Fraction(0))
    bucket = TokenBucket(Fraction(7, 3), 1, clock=clock)
    bucket.try_acquire()
    wait = bucket.try_acquire().retry_after
    clock.now = wait - Fraction(1, 10**9)
    early = bucket.try_acquire().allowed
    clock.now = wait
    return (not early) and bucket.try_acquire().allowed


def _sliding_window(store) -> dict[str, Any]:
    events = stream_events(store)
    row = measure_store.streaming_vs_batch(
        store, events, "user_activity", HOUR_US, "impressions_1h", "clicks_1h"
    )
    return {
        "events": row["events"],
        "queries": row["queries"],
        "events_per_s": row["events_per_s"],
        "count_equal_share": row["count_equal_share"],
        "sum_equal_share": row["sum_equal_share"],
        "dropped_late": row["dropped_late"],
    }

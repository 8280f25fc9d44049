"""``labkit run dsa_for_ml``: the lab's structures on ShopStream's traffic.

    labkit run dsa_for_ml                  # small preset, about 40 s
    labkit run dsa_for_ml --preset tiny    # a few seconds

Writes ``results/dsa_for_ml/README.md``, one section per milestone, each
answering interview questions from the brief with what it measured: LRU hit
rate against cache size and the latency a cache saves in front of SQLite and
Redis; trending items per hour and a reservoir's uniformity; keys moved and
load spread on a hash ring; Bloom false-positive rates against theory; a
token bucket under a flood and on real users; streaming window counts
against the feature store's batch rows. The two sections that run against
the feature store (the cache's latency, the streaming counts) are in
``run_store.py``.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

from common.results import Results, fmt
from common.timing import Stopwatch
from labs.dsa_for_ml import measure
from labs.dsa_for_ml.run_store import cache_latency, streaming_windows
from labs.dsa_for_ml.workloads import AccessLog, access_log, stream_events
from labs.feature_store.build import build_store

log = logging.getLogger(__name__)

CACHE_SHARES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)  # cache size / distinct keys
ITEM_ACCESSES = 300_000  # item reads replayed per cache size (~1.5 days on small)
RING_SIZES = tuple(range(1, 16))  # nodes before one joins
RING_VNODES = 100
SPREAD_VNODES = (1, 4, 16, 64, 256, 1024)
SPREAD_NODES = 10
BLOOM_KEYS = 50_000  # (user, item) pairs inserted; as many absent pairs queried
BLOOM_BITS = (4, 6, 8, 10, 12, 16)
LIMITS = ((Fraction(1, 60), 2), (Fraction(1, 60), 5), (Fraction(1, 20), 10))
LIMIT_REQUESTS = 50_000  # requests replayed through each limit (~2.5 days on small)
FLOOD = {"rate": 5, "burst": 10, "rps": 50, "seconds": 60}


def run(results: Results, *, preset: str = "small") -> None:
    """Measure every structure of the lab on ShopStream ``preset``."""
    results.add("preset", preset)
    access = access_log(preset)
    store = build_store(preset)
    try:
        events = stream_events(store)
        results.text(
            f"ShopStream `{preset}`: {len(access):,} ranking requests (a user and a "
            f"{access.item_id.shape[1]}-item slate each), {len(events):,} valid "
            f"impressions; {access.dirty_rows:,} corrupted rows left out."
        )
        watch = Stopwatch()
        with watch("m1_hit_rate"):
            _lru(results, access)
        with watch("m1_latency"):
            cache_latency(results, store, access, preset)
        with watch("m2"):
            _topk(results, events)
        with watch("m3"):
            _hashing(results, access)
        with watch("m4_bloom"):
            _bloom(results, access)
        with watch("m4_rate_limit"):
            _rate_limit(results, access)
        with watch("m5"):
            streaming_windows(results, store, events)
    finally:
        store.close()
    results.add("seconds_by_section", {k: round(v, 2) for k, v in watch.totals.items()})


# --- m1 -----------------------------------------------------------------------------------
def _lru(results: Results, access: AccessLog) -> None:
    results.text("## m1 — LRU cache in front of the online store")
    curves = {
        "items": measure.hit_rate_curve(access.item_keys[:ITEM_ACCESSES], CACHE_SHARES),
        "users": measure.hit_rate_curve(access.user_keys, CACHE_SHARES),
    }
    results.add("lru_hit_rate", curves)
    for name, rows in curves.items():
        results.table(rows, title=f"Hit rate against cache size: {name}")
    with results.plot("lru_hit_rate", "LRU hit rate against cache size") as ax:
        for name, rows in curves.items():
            shares = [r["share_of_keys"] for r in rows]
            ax.plot(
                shares, [r["lru_hit_rate"] for r in rows], "o-", label=f"{name}: LRU"
            )
            ax.plot(
                shares,
                [r["static_top_hit_rate"] for r in rows],
                "--",
                label=f"{name}: most popular (hindsight)",
            )
        ax.set_xscale("log")
        ax.set_xlabel("cache size / distinct keys")
        ax.set_ylabel("hit rate")
        ax.legend()
    items = {r["share_of_keys"]: r for r in curves["items"]}
    users = {r["share_of_keys"]: r for r in curves["users"]}
    results.text(
        f"With room for 10% of the items ({items[0.1]['capacity']:,} entries) the "
        f"LRU answers {items[0.1]['lru_hit_rate']:.0%} of item reads; 10% of the "
        f"users ({users[0.1]['capacity']:,}) answers {users[0.1]['lru_hit_rate']:.0%} "
        "of user reads, because a session reads its user several times within "
        "minutes. A cache that knew the most popular keys in advance would hit "
        f"{items[0.1]['static_top_hit_rate']:.0%} of items and "
        f"{users[0.1]['static_top_hit_rate']:.0%} of users: LRU earns its hits from "
        "recency, not popularity alone."
    )


# --- m2 -----------------------------------------------------------------------------------
def _topk(results: Results, events) -> None:
    results.text("## m2 — Streaming top-k and reservoir sampling")
    boards, agree = measure.trending_by_hour(events, k=5)
    results.add("trending_hours", len(boards))
    results.add("trending_agree_with_counter", agree)
    busiest = max(boards, key=lambda h: sum(c for _, c in boards[h]))
    quietest = min(boards, key=lambda h: sum(c for _, c in boards[h]))
    results.table(
        [
            {
                "hour": label,
                "utc_hour": h % 24,
                "top_5": ", ".join(f"{i} ({c})" for i, c in boards[h]),
            }
            for label, h in (("busiest", busiest), ("quietest", quietest))
        ],
        title="Trending items (impressions per hour), from a size-5 heap",
    )
    results.text(
        f"{len(boards)} hourly boards, each from one pass with a count map and a "
        f"size-5 heap; all equal `Counter.most_common`: {agree}."
    )
    uniform = measure.reservoir_uniformity(n=100, k=10, runs=5_000, seed=0)
    results.add("reservoir_uniformity", uniform)
    ctr = _reservoir_ctr(events)
    results.add("reservoir_ctr", ctr)
    results.text(
        f"Reservoir sampling: over {uniform['runs']:,} samples of {uniform['k']} from "
        f"{uniform['n']} items each item was kept {uniform['min_count']}–"
        f"{uniform['max_count']} times (expected {uniform['expected_each']:.0f}); "
        f"chi-square {uniform['chi2']:.1f} on {uniform['n'] - 1} df, "
        f"p = {uniform['p_value']:.2f}. A one-pass sample of {ctr['k']:,} of the "
        f"{ctr['n']:,} impressions estimates the CTR at {ctr['sample_ctr']:.4f} "
        f"against {ctr['ctr']:.4f} (standard error {ctr['se']:.4f})."
    )


def _reservoir_ctr(events) -> dict[str, Any]:
    import random

    from labs.dsa_for_ml.reservoir import reservoir_sample

    clicks = events["clicked"].tolist()
    k = 5_000
    sample = reservoir_sample(clicks, k, random.Random(0))
    ctr = sum(clicks) / len(clicks)
    return {
        "n": len(clicks),
        "k": k,
        "ctr": ctr,
        "sample_ctr": sum(sample) / k,
        "se": (ctr * (1 - ctr) / k) ** 0.5,
    }


# --- m3 -----------------------------------------------------------------------------------
def _hashing(results: Results, access: AccessLog) -> None:
    results.text("## m3 — Consistent hashing for a sharded feature cache")
    users = [f"user_activity:{u}" for u in sorted(set(access.user_id.tolist()))]
    items = [f"item_stats:{i}" for i in sorted(set(access.item_id.ravel().tolist()))]
    keys = users + items
    accesses = [f"user_activity:{u}" for u in access.user_keys] + [
        f"item_stats:{i}" for i in access.item_keys
    ]
    moved = measure.moved_fractions(keys, RING_SIZES, RING_VNODES)
    results.add("moved_fraction", moved)
    results.table(moved, title=f"Keys moved when one node joins ({len(keys):,} keys)")
    with results.plot("moved_fraction", "Share of keys moved when a node joins") as ax:
        n = [r["nodes_before"] for r in moved]
        ax.plot(
            n,
            [r["ring_moved"] for r in moved],
            "o-",
            label=f"ring, {RING_VNODES} vnodes",
        )
        ax.plot(n, [r["ideal_1_over_n_plus_1"] for r in moved], "--", label="1/(n+1)")
        ax.plot(n, [r["modulo_moved"] for r in moved], "s-", label="hash mod n")
        ax.set_xlabel("nodes before the join (n)")
        ax.set_ylabel("share of keys moved")
        ax.legend()
    spread = measure.spread_by_vnodes(keys, accesses, SPREAD_NODES, SPREAD_VNODES)
    results.add("load_spread", spread)
    results.table(spread, title=f"Load over {SPREAD_NODES} nodes against virtual nodes")
    with results.plot("load_spread", "Load spread against virtual nodes") as ax:
        v = [r["vnodes"] for r in spread]
        ax.loglog(v, [r["keys_cv"] for r in spread], "o-", label="keys per node (cv)")
        ax.loglog(
            v,
            [r["theory_cv"] for r in spread],
            "--",
            label="theory: √((n−1)/(nv+1) + (n−1)/keys)",
        )
        ax.set_xlabel("virtual nodes per node")
        ax.set_ylabel("coefficient of variation")
        ax.legend()
    ten = next(r for r in moved if r["nodes_before"] == 10)
    low, high = spread[0], spread[-1]
    results.text(
        f"Growing 10 nodes to 11 moves {ten['ring_moved']:.1%} of the keys on the "
        f"ring (1/11 = {1 / 11:.1%}), all of them to the new node; `hash mod n` "
        f"moves {ten['modulo_moved']:.0%}. With {low['vnodes']} point per node the "
        f"keys per node vary with cv {low['keys_cv']:.2f} (theory "
        f"{low['theory_cv']:.2f}) and the fullest node holds "
        f"{low['keys_max_over_mean']:.2f}x the mean; with {high['vnodes']} points, "
        f"cv {high['keys_cv']:.3f} (theory {high['theory_cv']:.3f}) and "
        f"{high['keys_max_over_mean']:.2f}x. Weighted by "
        f"requests it is still {high['requests_max_over_mean']:.2f}x: hashing spreads "
        "keys, not traffic, and a hot item drags its node along (an in-process "
        "cache in front, or replicas of the hottest keys, take that load)."
    )


# --- m4 -----------------------------------------------------------------------------------
def _bloom(results: Results, access: AccessLog) -> None:
    results.text("## m4 — Bloom filter and token bucket")
    pairs = [
        f"{u}:{i}"
        for u, slate in zip(
            access.user_id.tolist(), access.item_id.tolist(), strict=True
        )
        for i in slate
    ]
    distinct = list(dict.fromkeys(pairs))
    n = min(BLOOM_KEYS, len(distinct) // 2)
    members = distinct[:n]
    absent = distinct[n : 2 * n]  # shown later, never before
    rows = measure.bloom_curve(members, absent, BLOOM_BITS)
    set_bytes = measure.set_bytes_per_key(members)
    results.add("bloom_fpr", rows)
    results.add("set_bytes_per_key", set_bytes)
    results.table(
        rows,
        title=(
            f"False positives: {len(members):,} (user, item) pairs already shown, "
            f"{len(absent):,} pairs never shown queried"
        ),
    )
    with results.plot(
        "bloom_fpr", "Bloom false-positive rate against bits per key"
    ) as ax:
        bits = [r["bits_per_key"] for r in rows]
        ax.semilogy(bits, [r["measured_fpr"] for r in rows], "o", label="measured")
        ax.semilogy(
            bits, [r["theory_fpr"] for r in rows], "-", label="(1 - e^(-kn/m))^k"
        )
        ax.set_xlabel("bits per key (m/n)")
        ax.set_ylabel("false-positive rate")
        ax.legend()
    ten = next(r for r in rows if r["bits_per_key"] == 10)
    results.text(
        f"At 10 bits per key (k = {ten['k']}) {ten['measured_fpr']:.2%} of never-shown "
        f"items would be hidden by mistake (theory {ten['theory_fpr']:.2%}), in "
        f"{ten['filter_kib']:.0f} KiB; a Python set of the same pairs costs about "
        f"{set_bytes:.0f} bytes per pair, {set_bytes * 8 / 10:.0f}x the filter."
    )


def _rate_limit(results: Results, access: AccessLog) -> None:
    flood = measure.flood(**FLOOD)
    results.add("flood", flood)
    results.text(
        f"A client sending {FLOOD['rps']} requests/s for {FLOOD['seconds']} s into a "
        f"bucket of rate {FLOOD['rate']}/s and burst {FLOOD['burst']}: "
        f"{flood['admitted']:,} of {flood['sent']:,} admitted, and "
        f"burst + rate·T = {flood['burst_plus_rate_t']:,}. Every refusal carried "
        f"a Retry-After of at most {flood['retry_after_max_s']:.2f} s."
    )
    rows = measure.shopstream_limits(access.head(LIMIT_REQUESTS), LIMITS)
    results.add("shopstream_limits", rows)
    results.table(
        rows,
        title=f"Per-user limits replayed on ShopStream's first {LIMIT_REQUESTS:,} requests",
    )
    strict, loose = rows[0], rows[-1]
    results.text(
        f"Real sessions are bursty. {fmt(strict['rate_per_min'])} request/min with a "
        f"burst of {strict['burst']} refuses {strict['refused_share']:.2%} of real "
        f"requests and touches {strict['users_refused_share']:.1%} of users (median "
        f"Retry-After {fmt(strict['retry_after_p50_s'])} s); "
        f"{fmt(loose['rate_per_min'])}/min with a burst of {loose['burst']} refuses "
        f"{loose['refused_share']:.2%}. A scraper at {FLOOD['rps']}/s would still "
        f"get only burst + rate·T through."
    )


# --- m5 -----------------------------------------------------------------------------------

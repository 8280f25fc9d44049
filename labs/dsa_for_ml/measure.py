"""The measurements behind ``labkit run`` and ``labkit bench`` (given, not an exercise).

Each function runs one experiment on ShopStream's access sequences and
events with the lab's structures alone, and returns plain numbers (dicts and
lists of rows); ``run.py`` and ``bench.py`` turn them into pages. The ones
that run against the feature store are in ``measure_store.py``. Nothing here
hard-codes a result.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from labs.dsa_for_ml.bloom import BloomFilter, theoretical_fp_rate
from labs.dsa_for_ml.consistent_hash import HashRing, load_spread, modulo_node
from labs.dsa_for_ml.lru import replay_hit_rate
from labs.dsa_for_ml.rate_limit import RateLimiter, TokenBucket
from labs.dsa_for_ml.workloads import AccessLog

US_PER_S = 1_000_000


# --- m1: the LRU cache ---------------------------------------------------------------
def static_hit_rate(keys: Sequence[str], capacity: int) -> float:
    """Hit rate of a cache that holds, from the start, the ``capacity`` most
    requested keys of the whole sequence (hindsight; misses on first use ignored)."""
    counts = sorted(Counter(keys).values(), reverse=True)
    return sum(counts[:capacity]) / len(keys)


def hit_rate_curve(
    keys: Sequence[str], shares: Sequence[float]
) -> list[dict[str, Any]]:
    """LRU hit rate for capacities given as shares of the distinct keys."""
    distinct = len(set(keys))
    rows = []
    for share in shares:
        capacity = max(1, round(share * distinct))
        rows.append(
            {
                "capacity": capacity,
                "share_of_keys": share,
                "lru_hit_rate": replay_hit_rate(keys, capacity),
                "static_top_hit_rate": static_hit_rate(keys, capacity),
            }
        )
    return rows


# --- m2: top-k and reservoir sampling ------------------------------------------------------
def trending_by_hour(events: pd.DataFrame, k: int) -> tuple[dict[int, list], bool]:
    """Top-``k`` items by impressions for every hour, with the heap; and
    whether every hour agrees with ``Counter.most_common`` (the oracle)."""
    from labs.dsa_for_ml.topk import heavy_hitters

    hours = (events["event_us"] // (3600 * US_PER_S)).to_numpy()
    items = events["item_id"].to_numpy()
    order = np.argsort(hours, kind="stable")
    hours, items = hours[order], items[order]
    cuts = np.flatnonzero(np.diff(hours)) + 1
    boards, agree = {}, True
    for chunk_h, chunk in zip(
        np.split(hours, cuts), np.split(items, cuts), strict=True
    ):
        values = chunk.tolist()
        board = heavy_hitters(values, k)
        agree &= board == Counter(values).most_common(k)
        boards[int(chunk_h[0])] = board
    return boards, bool(agree)


def reservoir_uniformity(n: int, k: int, runs: int, seed: int) -> dict[str, float]:
    """Inclusion counts of each of ``n`` items over ``runs`` samples, chi-square tested."""
    from scipy import stats

    from labs.dsa_for_ml.reservoir import reservoir_sample

    rng = random.Random(seed)
    inclusion: Counter[int] = Counter()
    for _ in range(runs):
        inclusion.update(reservoir_sample(range(n), k, rng))
    observed = [inclusion[i] for i in range(n)]
    test = stats.chisquare(observed)
    return {
        "n": n,
        "k": k,
        "runs": runs,
        "expected_each": runs * k / n,
        "min_count": min(observed),
        "max_count": max(observed),
        "chi2": float(test.statistic),
        "p_value": float(test.pvalue),
    }


# --- m3: consistent hashing ---------------------------------------------------------------
def moved_fractions(
    keys: Sequence[str], sizes: Sequence[int], vnodes: int
) -> list[dict[str, float]]:
    """Share of keys that change node when one node joins ``n`` nodes."""
    rows = []
    for n in sizes:
        nodes = [f"cache-{i}" for i in range(n)]
        ring = HashRing(nodes, vnodes=vnodes)
        before = [ring.node_for(k) for k in keys]
        ring.add_node(f"cache-{n}")
        after = [ring.node_for(k) for k in keys]
        grown = [*nodes, f"cache-{n}"]
        modulo = sum(modulo_node(k, nodes) != modulo_node(k, grown) for k in keys)
        rows.append(
            {
                "nodes_before": n,
                "ring_moved": sum(a != b for a, b in zip(before, after, strict=True))
                / len(keys),
                "ideal_1_over_n_plus_1": 1 / (n + 1),
                "modulo_moved": modulo / len(keys),
            }
        )
    return rows


def spread_by_vnodes(
    keys: Sequence[str],
    accesses: Sequence[str],
    n_nodes: int,
    vnodes_list: Sequence[int],
) -> list[dict[str, float]]:
    """Load spread over ``n_nodes`` by keys held and by requests served.

    Theory for the keys: with ``v`` random points per node, a node's share of
    the ring is Beta(v, (n − 1)v), whose coefficient of variation is
    ``√((n − 1)/(n v + 1))`` (≈ 1/√v); placing ``K`` keys adds the multinomial
    ``(n − 1)/K`` to the squared cv.
    """
    requests = Counter(accesses)
    nodes = [f"cache-{i}" for i in range(n_nodes)]
    rows = []
    for vnodes in vnodes_list:
        ring = HashRing(nodes, vnodes=vnodes)
        owner = ring.assign(keys)
        by_keys = Counter(owner.values())
        by_requests: Counter[str] = Counter()
        for key, count in requests.items():
            by_requests[owner[key]] += count
        keys_spread = load_spread([by_keys[n] for n in nodes])
        request_spread = load_spread([by_requests[n] for n in nodes])
        rows.append(
            {
                "vnodes": vnodes,
                "keys_cv": keys_spread["cv"],
                "theory_cv": float(
                    np.sqrt(
                        (n_nodes - 1) / (n_nodes * vnodes + 1)
                        + (n_nodes - 1) / len(keys)
                    )
                ),
                "keys_max_over_mean": keys_spread["max_over_mean"],
                "requests_max_over_mean": request_spread["max_over_mean"],
            }
        )
    return rows


# --- m4: Bloom filter and token bucket ----------------------------------------------------
def bloom_curve(
    members: Sequence[str], absent: Sequence[str], bits_per_key: Sequence[int]
) -> list[dict[str, float]]:
    """Measured false-positive rate against theory, for several ``m/n``."""
    n = len(members)
    rows = []
    for bpk in bits_per_key:
        m, k = bpk * n, max(1, round(bpk * np.log(2)))
        bloom = BloomFilter(n, m=m, k=k)
        for key in members:
            bloom.add(key)
        assert all(key in bloom for key in members[:: max(1, n // 1000)])
        false = sum(key in bloom for key in absent)
        rows.append(
            {
                "bits_per_key": bpk,
                "k": k,
                "measured_fpr": false / len(absent),
                "theory_fpr": theoretical_fp_rate(m, k, n),
                "filter_kib": m / 8 / 1024,
            }
        )
    return rows


def set_bytes_per_key(keys: Sequence[str]) -> float:
    """What a Python ``set`` of the same keys costs per key (the table + the strings)."""
    import sys

    held = set(keys)
    return (sys.getsizeof(held) + sum(sys.getsizeof(k) for k in held)) / len(held)


class SimClock:
    """A clock that reads whatever time the simulation set."""

    def __init__(self, now: Fraction):
        self.now = now

    def __call__(self) -> Fraction:
        return self.now


def flood(rate: int, burst: int, rps: int, seconds: int) -> dict[str, Any]:
    """One client sending ``rps`` requests a second for ``seconds``, simulated clock."""
    clock = SimClock(Fraction(0))
    bucket = TokenBucket(rate, burst, clock=clock)
    admitted, retry = 0, []
    for step in range(rps * seconds + 1):
        clock.now = Fraction(step, rps)
        decision = bucket.try_acquire()
        admitted += decision.allowed
        if not decision.allowed:
            retry.append(decision.retry_after_s)
    return {
        "sent": rps * seconds + 1,
        "admitted": admitted,
        "burst_plus_rate_t": burst + rate * seconds,
        "retry_after_max_s": max(retry) if retry else 0.0,
    }


def shopstream_limits(
    log: AccessLog, limits: Sequence[tuple[Fraction, int]]
) -> list[dict[str, Any]]:
    """Replay every request through a per-user limiter on the event-time clock."""
    users = log.user_keys
    times = [Fraction(int(t), US_PER_S) for t in log.event_us.tolist()]
    rows = []
    for rate, burst in limits:
        clock = SimClock(times[0])
        limiter = RateLimiter(rate, burst, max_clients=len(set(users)), clock=clock)
        refused_users: set[str] = set()
        headers = []
        for user, t in zip(users, times, strict=True):
            clock.now = t
            decision = limiter.check(user)
            if not decision.allowed:
                refused_users.add(user)
                headers.append(int(decision.http()[1]["Retry-After"]))
        rows.append(
            {
                "rate_per_min": float(rate * 60),
                "burst": burst,
                "refused_share": limiter.refused / len(users),
                "users_refused_share": len(refused_users) / len(set(users)),
                "retry_after_p50_s": float(np.median(headers)) if headers else 0.0,
            }
        )
    return rows

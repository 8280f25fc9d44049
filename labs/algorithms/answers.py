"""The ShopStream questions each milestone answers, as numbers (given, not an exercise).

Each function runs the lab's code on one preset's data and returns plain
numbers (dicts and lists); ``run.py`` puts them on the page and in
``results.json``. Every answer that has a simple independent check (numpy,
a brute-force count, the other algorithm) carries the check's verdict too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labs.algorithms import (
    intervals,
    paths,
    search,
    selection,
    toposort,
    trie,
    union_find,
)
from labs.algorithms.catalogue import Catalogue
from labs.algorithms.complexity import seconds_per_call
from labs.algorithms.shop import Shop

HOUR_US = 3_600_000_000
LARGE_BATCH = 8_192  # rows per call when timing the cost per row
# The kit's own pipeline: each step and the steps it needs first.
PIPELINE = {
    "generate_shopstream": [],
    "validate_rows": ["generate_shopstream"],
    "offline_store": ["validate_rows"],
    "feature_views": ["offline_store"],
    "materialise_online": ["feature_views"],
    "training_set": ["feature_views"],
    "train_model": ["training_set"],
    "evaluate_model": ["train_model"],
    "register_model": ["evaluate_model"],
    "batch_score": ["register_model", "offline_store"],
    "publish_scores": ["batch_score", "materialise_online"],
    "serve_ranking": ["register_model", "materialise_online"],
    "load_test": ["serve_ranking"],
}
# A feature computed from the model's own evaluation closes a loop.
FEEDBACK = {**PIPELINE, "feature_views": ["offline_store", "evaluate_model"]}


# --- m1 ------------------------------------------------------------------------------
def delay_percentiles(shop: Shop) -> dict[str, Any]:
    """Nearest-rank percentiles of the ingestion delay, by quickselect and numpy."""
    delays = shop.delays_ms
    out: dict[str, Any] = {"n": len(delays), "distinct": len(set(delays))}
    for q in (50, 99, 99.9):
        key = f"p{q:g}".replace(".", "_")
        out[f"{key}_ms"] = selection.percentile(delays, q)
        out[f"{key}_numpy_ms"] = float(np.percentile(delays, q, method="inverted_cdf"))
    out["agree"] = all(
        out[f"{k}_ms"] == out[f"{k}_numpy_ms"] for k in ("p50", "p99", "p99_9")
    )
    return out


def busiest_hour(shop: Shop) -> dict[str, Any]:
    """Impressions per hour by two binary searches each, checked with searchsorted."""
    times = shop.event_us
    first = times[0] // HOUR_US * HOUR_US
    edges = list(range(first, times[-1] + HOUR_US, HOUR_US))
    counts = [search.count_between(times, t, t + HOUR_US - 1) for t in edges]
    array = np.asarray(times)
    numpy = np.diff(np.searchsorted(array, [*edges, edges[-1] + HOUR_US]))
    top = int(np.argmax(counts))
    return {
        "hours": len(edges),
        "busiest_start_us": edges[top],
        "busiest_utc_hour": edges[top] // HOUR_US % 24,
        "busiest_impressions": counts[top],
        "quietest_impressions": min(counts),
        "agree_with_searchsorted": counts == numpy.tolist(),
    }


def batch_size_search(rows: int, seed: int = 0) -> dict[str, Any]:
    """The smallest batch that scores ``rows`` rows within 25% of the ideal time.

    Times a numpy logistic scorer (16 features) per call at batch 1 and at
    8,192 (medians of 7 samples of 4 ms or more) to get the overhead per call
    and the cost per row, then searches the answer with ``smallest_passing``
    and counts the questions asked.
    """
    rng = np.random.default_rng(seed)
    x, w = rng.random((LARGE_BATCH, 16)), rng.random(16)

    def score(block: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(block @ w)))

    one = seconds_per_call(score, x[:1], repeats=7)
    large = seconds_per_call(score, x, repeats=7)
    per_row = max((large - one) / (LARGE_BATCH - 1), 1e-12)
    overhead = max(one - per_row, 1e-12)
    budget = 1.25 * rows * per_row  # 25% above scoring with no overhead at all
    asked = []

    def fits(batch: int) -> bool:
        asked.append(batch)
        return math.ceil(rows / batch) * overhead + rows * per_row <= budget

    smallest = search.smallest_passing(1, rows, fits)
    return {
        "rows": rows,
        "overhead_s": overhead,
        "per_row_s": per_row,
        "budget_s": budget,
        "smallest_batch": smallest,
        "questions": len(asked),
        "max_questions": search.max_calls(1, rows),
        "closed_form_batch": math.ceil(
            rows / math.floor(0.25 * rows * per_row / overhead)
        ),
    }


# --- m2 ------------------------------------------------------------------------------
def pipeline() -> dict[str, Any]:
    """The kit's pipeline in order, and the cycle a feedback feature would create."""
    try:
        toposort.topological_order(FEEDBACK)
        cycle: list[str] = []
    except toposort.CycleError as exc:
        cycle = exc.cycle
    return {"order": toposort.topological_order(PIPELINE), "feedback_cycle": cycle}


def coview(shop: Shop) -> dict[str, Any]:
    """Hops from the most-clicked item; the likeliest click chain to the farthest."""
    clicks = shop.clicks["item_id"].value_counts()
    source = int(clicks.index[0])
    hops = paths.bfs_distances(shop.coview_neighbours, source)
    distance, previous = paths.dijkstra(shop.coview_edges, source)
    dense, _ = paths.dijkstra_dense(shop.coview_edges, source)
    target = max(distance, key=lambda item: (hops.get(item, -1), -distance[item]))
    active = sum(1 for a in shop.coview_neighbours.values() if a)
    return {
        "source": source,
        "items_with_edges": active,
        "edges": sum(len(e) for e in shop.coview_edges.values()),
        "reachable": len(hops) - 1,
        "hops": {
            str(h): sum(1 for d in hops.values() if d == h)
            for h in range(1, max(hops.values()) + 1)
        },
        "chain_target": target,
        "chain": paths.path_to(previous, source, target),
        "chain_probability": math.exp(-distance[target]),
        "dense_agrees": dense.keys() == distance.keys()
        and all(math.isclose(dense[k], distance[k], abs_tol=1e-9) for k in distance),
    }


def accounts(shop: Shop) -> dict[str, Any]:
    """People behind ShopStream's accounts when shared devices link them."""
    people = union_find.merge_accounts(shop.devices)
    sizes = [len(p) for p in people]
    return {
        "accounts": len(shop.devices),
        "people": len(people),
        "merged_accounts": sum(s for s in sizes if s > 1),
        "largest_person": max(sizes),
    }


# --- m3 ------------------------------------------------------------------------------
def autocomplete(cat: Catalogue, k: int = 5) -> list[dict[str, Any]]:
    """Top-k completions of three prefixes of the most searched query."""
    box = trie.Trie()
    for query, count in cat.queries.items():
        box.insert(query, count)
    top = max(cat.queries, key=lambda q: (cat.queries[q], q))
    rows = []
    for prefix in (top[:1], top[:4], top.rsplit(" ", 1)[0] + " "):
        got = box.top_k(prefix, k)
        brute = sorted(
            ((q, c) for q, c in cat.queries.items() if q.startswith(prefix)),
            key=lambda qc: (-qc[1], qc[0]),
        )[:k]
        rows.append(
            {"prefix": prefix, "completions": got, "equals_brute_force": got == brute}
        )
    return rows


def sessions(shop: Shop) -> dict[str, Any]:
    """Requests merged into 30-minute sessions; live sessions per hour; the peak."""
    merged = {
        u: intervals.merge_intervals(spans)
        for u, spans in shop.request_intervals.items()
    }
    everyone = [span for spans in merged.values() for span in spans]
    first = min(s for s, _ in everyone) // HOUR_US * HOUR_US
    hours = list(range(first, max(e for _, e in everyone) + 1, HOUR_US))
    live = intervals.active_counts(everyone, hours)
    peak, when = intervals.peak_concurrency(everyone)
    return {
        "requests": sum(len(s) for s in shop.request_intervals.values()),
        "sessions": len(everyone),
        "users": len(merged),
        "live_by_hour": live,
        "hour_start_us": first,
        "peak_live": peak,
        "peak_utc_hour": (when // HOUR_US) % 24,
    }

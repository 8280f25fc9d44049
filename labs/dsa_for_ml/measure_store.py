"""The measurements that run against the feature store (given, not an exercise).

    hour_us = 3_600_000_000
    serving_latency(store, log, [None, 500], warm=1_500, timed=2_000)     # m1
    streaming_vs_batch(store, events, "user_activity", hour_us,
                       "impressions_1h", "clicks_1h")                     # m5
    online_staleness(store, events, hour_us)                              # m5

Where the lab's structures meet Lab 1: an LRU in front of the online store,
timed on real ranking requests, and the streaming window counter checked
against the store's batch rows and what its online rows serve. ``measure.py``
holds the measurements on access sequences alone; ``run.py`` and ``bench.py``
turn both into pages. Nothing here hard-codes a result.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from common.timing import summarize
from labs.dsa_for_ml.measure import US_PER_S
from labs.dsa_for_ml.online_cache import CachedOnlineStore, with_cache
from labs.dsa_for_ml.sliding_window import SlidingWindowCounter, replay
from labs.dsa_for_ml.workloads import AccessLog
from labs.feature_store.store import FeatureStore


# --- m1: a cache in front of the online store ------------------------------------------
def _requests(log: AccessLog) -> list[dict[str, list[int]]]:
    return [
        {"user_id": [user] * len(items), "item_id": items}
        for user, items in zip(log.user_id.tolist(), log.item_id.tolist(), strict=True)
    ]


def serving_latency(
    store: FeatureStore,
    log: AccessLog,
    capacities: Sequence[int | None],
    *,
    warm: int,
    timed: int,
) -> list[dict[str, Any]]:
    """Latency of ``get_online_features`` per ranking request (user + slate).

    One target per capacity (``None`` reads the store directly, the others
    through their own LRU of that size). The first ``warm`` requests of
    ``log`` run untimed through every target (they fill the caches and the
    backend's own); then each of the next ``timed`` requests is timed on
    every target in turn, so a burst of load on the machine hits all of them
    alike.
    """
    features = store.feature_names()
    requests = _requests(log.head(warm + timed))
    targets = [store if c is None else with_cache(store, c) for c in capacities]
    for target in targets:
        for request in requests[:warm]:
            target.get_online_features(request, features)
        if isinstance(target.online, CachedOnlineStore):
            target.online.reset_stats()
    samples: list[list[float]] = [[] for _ in targets]
    clock = time.perf_counter
    for request in requests[warm:]:
        for target, times in zip(targets, samples, strict=True):
            start = clock()
            target.get_online_features(request, features)
            times.append(clock() - start)
    rows = []
    for capacity, target, times in zip(capacities, targets, samples, strict=True):
        summary = summarize(times, unit="ms")
        row: dict[str, Any] = {
            "capacity": capacity or 0,
            "p50_ms": summary["p50"],
            "p99_ms": summary["p99"],
            "mean_ms": summary["mean"],
            "requests": len(times),
        }
        online = target.online
        if isinstance(online, CachedOnlineStore):
            row["hit_rate"] = online.hit_rate
            # One read per view per request at most: 0 means every key hit.
            row["backend_reads_per_request"] = online.backend_reads / len(times)
        rows.append(row)
    return rows


# --- m5: the streaming path against the store's rows ----------------------------------
def streaming_vs_batch(
    store: FeatureStore,
    events: pd.DataFrame,
    view: str,
    window_us: int,
    count: str,
    total: str,
) -> dict[str, Any]:
    """Replay the stream at the view's feature points; compare with its batch rows."""
    entity = store.views[view].entity
    rows = store.feature_rows(view)
    counter = SlidingWindowCounter(window_us)
    start = time.perf_counter()
    counts, totals = replay(
        counter,
        events[entity],
        events["event_us"],
        events["arrival_us"],
        events["clicked"],
        rows[entity],
        rows["event_timestamp"].array.asi8,
    )
    seconds = time.perf_counter() - start
    return {
        "view": view,
        "window_h": window_us / 3600 / US_PER_S,
        "events": len(events),
        "queries": len(rows),
        "count_equal_share": float(np.mean(counts == rows[count].to_numpy())),
        "sum_equal_share": float(np.mean(totals == rows[total].to_numpy())),
        "dropped_late": counter.dropped_late,
        "events_per_s": (len(events) + len(rows)) / seconds,
    }


def online_staleness(
    store: FeatureStore, events: pd.DataFrame, window_us: int
) -> dict[str, Any]:
    """The online ``impressions_1h`` (as of each user's last event) against the
    true count over the last hour at the store's present (its watermark)."""
    now_us = store.watermark("user_activity")
    if now_us is None:
        raise ValueError("the store was never materialised; build it with build_store.")
    users = np.unique(events["user_id"].to_numpy())
    counter = SlidingWindowCounter(window_us)
    # Only arrivals in [now - w, now] can count at now (event <= arrival).
    arrival = events["arrival_us"]
    live = events[(arrival >= now_us - window_us) & (arrival <= now_us)]
    counts, _ = replay(
        counter,
        live["user_id"],
        live["event_us"],
        live["arrival_us"],
        None,
        users,
        np.full(len(users), now_us),
    )
    online = store.get_online_features(
        {"user_id": users}, ["user_activity:impressions_1h"]
    )
    served = online["user_activity:impressions_1h"]
    fresh = ~np.isnan(served)  # not expired by the 24 h TTL
    wrong = fresh & (served != counts)
    return {
        "users": len(users),
        "served_not_null": int(fresh.sum()),
        "served_wrong_share": float(wrong.sum() / max(1, fresh.sum())),
        "served_nonzero_share": float(np.mean(served[fresh] > 0))
        if fresh.any()
        else 0.0,
        "true_nonzero_share": float(np.mean(counts[fresh] > 0)) if fresh.any() else 0.0,
        "mean_abs_error": float(np.mean(np.abs(served - counts)[fresh]))
        if fresh.any()
        else 0.0,
    }

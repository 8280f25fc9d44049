"""Measurements ``run.py`` and ``bench.py`` share: throughput, latency, freshness, skew.

Each function measures one thing on a real store and returns plain numbers;
the pages decide what to show. Nothing here starts a server: the callers
start Redis (``infra.redis_server``) and stop it in ``finally``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.timing import summarize
from labs.feature_store.materialize import latest_per_entity, write_online
from labs.feature_store.online_store import OnlineStore
from labs.feature_store.pit_join import JoinSpec, point_in_time_join
from labs.feature_store.schema import instant_us
from labs.feature_store.store import FeatureStore

HOUR_US = 3_600 * 1_000_000


def load_average() -> float:
    """The 1-minute load average (other work on the machine skews tails)."""
    return round(os.getloadavg()[0], 2)


def copy_store(root: Path, into: Path) -> Path:
    """A private copy of a store folder (the cached one stays read-only)."""
    target = into / root.name
    shutil.copytree(root, target, ignore=shutil.ignore_patterns("online.db*"))
    return target


def sample_impressions(store: FeatureStore, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` impressions drawn with replacement: ``user_id, item_id, event_timestamp, clicked``."""
    rows = store.offline.read_impressions(
        ["user_id", "item_id", "event_timestamp", "clicked"]
    )
    picks = np.random.default_rng(seed).integers(0, len(rows), n)
    return rows.iloc[picks].reset_index(drop=True)


def pit_throughput(
    store: FeatureStore,
    entity_df: pd.DataFrame,
    features: Sequence[str],
    repeats: int = 3,
    cold: bool = True,
) -> dict[str, Any]:
    """Time ``get_historical_features`` ``repeats`` times on the same rows.

    ``cold``: every call on a freshly opened store, so it reads the feature
    Parquet and builds each view's as-of index (what a one-off training-set
    job pays). Otherwise the store's in-memory indexes are built once, before
    timing, and reused (what repeated joins in one process pay).
    """
    if not cold:
        store.get_historical_features(entity_df.head(1_000), features)
    seconds = []
    for _ in range(repeats):
        target = (
            FeatureStore(store.root, list(store.views.values()), online="memory")
            if cold
            else store
        )
        started = time.perf_counter()
        out = target.get_historical_features(entity_df, features)
        seconds.append(time.perf_counter() - started)
        if cold:
            target.close()
    median = float(np.median(seconds))
    return {
        "rows": len(entity_df),
        "features": len(features),
        "views": len({f.split(":")[0] for f in features}),
        "cold": cold,
        "seconds": [round(s, 3) for s in seconds],
        "rows_per_s": len(entity_df) / median,
        "null_share": float(out[list(features)].isna().to_numpy().mean()),
    }


def materialize_throughput(store: FeatureStore, online: OnlineStore) -> dict[str, Any]:
    """A full materialisation of every view into ``online``, timed in two parts:
    choosing each entity's latest row (DuckDB) and writing them (the backend)."""
    first, last = store.event_range()
    start_us, end_us = instant_us(first, "first"), instant_us(last, "last")
    select_s = write_s = 0.0
    entities = written = 0
    for view in store.views.values():
        started = time.perf_counter()
        latest = latest_per_entity(
            store.feature_path(view.name),
            view.entity,
            view.feature_names,
            start_us,
            end_us,
            con=store.offline.con,
        )
        select_s += time.perf_counter() - started
        started = time.perf_counter()
        written += write_online(
            online, view.name, latest, view.entity, view.feature_names
        )
        write_s += time.perf_counter() - started
        entities += len(latest)
    feature_rows = sum(store.registry.state["computed"]["rows"].values())
    return {
        "feature_rows_scanned": feature_rows,
        "entities": entities,
        "written": written,
        "select_s": select_s,
        "write_s": write_s,
        "rows_per_s": entities / (select_s + write_s),  # online rows, end to end
        "feature_rows_per_s": feature_rows
        / (select_s + write_s),  # offline rows covered
        "write_rows_per_s": written / write_s if write_s else float("nan"),
    }


def read_latency(
    store: FeatureStore,
    features: Sequence[str],
    key_pool: np.ndarray,
    batch_sizes: Sequence[int] = (1, 100),
    n: int = 2_000,
    warmup: int = 200,
    seed: int = 0,
) -> dict[int, dict[str, dict[str, float]]]:
    """p50/p99 of ``get_online_features`` and of the backend's ``read_batch``.

    Keys are drawn from ``key_pool`` (one entry per past read, so hot keys
    come up as often as in the traffic). Each call is timed with
    ``perf_counter`` in this process, after ``warmup`` untimed calls. The
    store call's CPU time (``thread_time``) is kept too: on a busy machine the
    gap between the two is time the process waited for a core.

    Returns:
        ``{batch_size: {"store": summary, "store_cpu": summary, "backend":
        summary}}`` in ms.
    """
    rng = np.random.default_rng(seed)
    view = features[0].split(":")[0]
    names = [f.split(":")[1] for f in features]
    out: dict[int, dict[str, dict[str, float]]] = {}
    wall, cpu = time.perf_counter, time.thread_time
    for size in batch_sizes:
        batches = [
            key_pool[rng.integers(0, len(key_pool), size)].tolist()
            for _ in range(n + warmup)
        ]
        timings: dict[str, list[float]] = {"store": [], "store_cpu": [], "backend": []}
        for i, batch in enumerate(batches):
            started, started_cpu = wall(), cpu()
            store.get_online_features(batch, features)
            elapsed, elapsed_cpu = wall() - started, cpu() - started_cpu
            keys = [str(k) for k in batch]
            started = wall()
            store.online.read_batch(view, keys, names)
            backend = wall() - started
            if i >= warmup:
                timings["store"].append(elapsed)
                timings["store_cpu"].append(elapsed_cpu)
                timings["backend"].append(backend)
        out[size] = {part: summarize(samples) for part, samples in timings.items()}
    return out


def latency_rows(
    backend: str, measured: dict[int, dict[str, dict[str, float]]]
) -> list[dict[str, Any]]:
    """The table rows of one backend's :func:`read_latency`, one per batch size (ms)."""
    return [
        {
            "backend": backend,
            "batch": size,
            "reads": parts["store"]["n"],
            "p50 ms": parts["store"]["p50"],
            "p95 ms": parts["store"]["p95"],
            "p99 ms": parts["store"]["p99"],
            "p99 CPU ms": parts["store_cpu"]["p99"],
            "read_batch p50 ms": parts["backend"]["p50"],
            "read_batch p99 ms": parts["backend"]["p99"],
        }
        for size, parts in measured.items()
    ]


def latency_figures(
    measured: dict[str, dict[int, dict[str, dict[str, float]]]], part: str = "store"
) -> dict[str, dict[int, dict[str, float]]]:
    """``{backend: {batch_size: {p50, p99}}}`` of one ``part`` of :func:`read_latency`.

    ``part``: ``"store"`` (the whole ``get_online_features``) or ``"backend"``
    (``read_batch`` alone).
    """
    return {
        backend: {
            size: {"p50": parts[part]["p50"], "p99": parts[part]["p99"]}
            for size, parts in by_size.items()
        }
        for backend, by_size in measured.items()
    }


def hot_key_shares(keys: np.ndarray, top: float = 0.01) -> dict[str, float]:
    """How concentrated reads are: the share hitting the top ``top`` of keys."""
    counts = np.sort(pd.Series(keys).value_counts().to_numpy())[::-1]
    k = max(1, round(top * len(counts)))
    return {
        "keys": len(counts),
        "top_keys": k,
        "top_share": float(counts[:k].sum() / counts.sum()),
        "hottest_share": float(counts[0] / counts.sum()),
        "uniform_top_share": k / len(counts),  # what the top would get without skew
    }


def skew_check(
    store: FeatureStore, ids_by_key: dict[str, np.ndarray], at: pd.Timestamp
) -> dict[str, dict[str, int]]:
    """Online values (materialised up to ``at``) against the PIT join at ``at``.

    Returns:
        Per view: entities compared, entities present online, and entities
        where any feature differs (NaN equals NaN). Zero means no skew.
    """
    out = {}
    for view in store.views.values():
        ids = ids_by_key[view.entity]
        features = store.feature_names(view.name)
        online = store.get_online_features({view.entity: ids}, features, now=at)
        entity_df = pd.DataFrame({view.entity: ids, "event_timestamp": at})
        offline = store.get_historical_features(entity_df, features)
        a = online.to_numpy(features)
        b = offline[features].to_numpy(dtype=np.float64)
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        out[view.name] = {
            "entities": len(ids),
            "present_online": int(
                (~online.missing[view.name] & ~online.expired[view.name]).sum()
            ),
            "mismatched": int(differ.any(axis=1).sum()),
        }
    return out


def staleness(
    store: FeatureStore,
    view: str,
    requests: pd.DataFrame,
    interval: pd.Timedelta,
    origin: pd.Timestamp,
) -> dict[str, float]:
    """What requests read when materialisation runs every ``interval``.

    A request at ``t`` reads what the last run before it wrote: the view as of
    ``τ = origin + k·interval ≤ t``. A perfectly fresh store would serve the
    view as of ``t − 1 µs`` (the latest row before the request; the request's
    own event is not in yet). Returns the share of requests served a value
    different from the fresh one, and how old the served row is (``t −`` its
    feature time).
    """
    v = store.views[view]
    rows = store.feature_rows(view)
    rows["__ts_h"] = (
        rows["event_timestamp"].array.asi8 / HOUR_US
    )  # the row's time, as a feature
    spec = JoinSpec(view, v.entity, [*v.feature_names, "__ts_h"], v.ttl_us, rows)
    ticks = origin + ((requests["event_timestamp"] - origin) // interval) * interval
    just_before = requests["event_timestamp"] - pd.Timedelta(microseconds=1)
    fresh = point_in_time_join(requests.assign(event_timestamp=just_before), [spec])
    served = point_in_time_join(requests.assign(event_timestamp=ticks), [spec])
    columns = [f"{view}:{f}" for f in v.feature_names]
    a, b = served[columns].to_numpy(), fresh[columns].to_numpy()
    differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    age_h = (
        requests["event_timestamp"].array.asi8 / HOUR_US
        - served[f"{view}:__ts_h"].to_numpy()
    )
    return {
        "stale_share": float(differ.any(axis=1).mean()),
        "served_age_h_p50": float(np.nanpercentile(age_h, 50))
        if np.isfinite(age_h).any()
        else float("nan"),
        "missing_share": float(np.isnan(a).all(axis=1).mean()),
    }


def materialize_cost(
    store_root: Path,
    interval: pd.Timedelta,
    start: pd.Timestamp,
    end: pd.Timestamp,
    work_dir: Path,
) -> dict[str, float]:
    """Run ``materialize_incremental`` every ``interval`` from ``start`` to ``end``.

    The online store (SQLite, the default) is first filled up to ``start``
    (untimed); then every run is timed, as a scheduler would run it.
    """
    from labs.feature_store.online_sqlite import SqliteOnlineStore

    name = f"cost-{int(interval.total_seconds())}s.db"
    online = SqliteOnlineStore(work_dir / name)
    store = FeatureStore(store_root, online=online)
    try:
        first, _ = store.event_range()
        store.materialize(first, start)
        runs, seconds, written = 0, 0.0, 0
        tick = start + interval
        while tick <= end:
            report = store.materialize_incremental(tick)
            runs += 1
            seconds += report.seconds
            written += sum(report.written.values())
            tick += interval
        return {"runs": runs, "seconds": seconds, "rows_written": written}
    finally:
        store.close()
        online.teardown()


def backfill_experiment(
    raw: pd.DataFrame,
    items: pd.DataFrame,
    root: Path,
    withhold_share: float = 0.2,
    seed: int = 0,
) -> dict[str, Any]:
    """Correct a past day's data and count what the online store gets wrong.

    1. Ingest everything except ``withhold_share`` of one day's events (the
       day before the last), compute, materialise incrementally to the end.
    2. The missing rows arrive as a correction: ingest, recompute the views,
       run ``materialize_incremental`` again, and count entities whose online
       value differs from the PIT join at the end (the watermark is already
       at the end, so incremental runs never look back).
    3. Backfill: ``materialize(day start, end)`` and count again.
    """
    days = raw["event_timestamp"].dt.floor("D")
    day = sorted(days.unique())[-2]
    rng = np.random.default_rng(seed)
    withheld = (days == day).to_numpy() & (rng.random(len(raw)) < withhold_share)
    store = FeatureStore(root, online="memory")
    try:
        store.ingest_items(items)  # the user_category view needs item categories
        store.ingest(raw[~withheld])
        _, last = store.event_range()
        store.materialize_incremental(last)
        ids = {v.entity: store.entity_ids(name) for name, v in store.views.items()}
        correction = store.ingest(raw[withheld])
        store.compute_views()
        incremental = store.materialize_incremental(last)
        stale = skew_check(store, ids, last)
        backfill = store.materialize(day, last)
        fixed = skew_check(store, ids, last)
    finally:
        store.close()
    return {
        "day": day.strftime("%Y-%m-%d"),
        "corrected_rows": correction.written_rows,
        "incremental_written": sum(incremental.written.values()),
        "stale_entities": {v: s["mismatched"] for v, s in stale.items()},
        "entities": {v: s["entities"] for v, s in stale.items()},
        "backfill_written": sum(backfill.written.values()),
        "backfill_s": backfill.seconds,
        "stale_after_backfill": {v: s["mismatched"] for v, s in fixed.items()},
    }

"""m4 — publish: each user's precomputed top items, written to the online store.

    report = publish_top_items(output_dir, store.online, top_n=10)
    read_top_items(store.online, ["42"])   # [[(item_id, score), ...]]  best first

A serving system reads one key per request, so the scores are published
the way it will read them: one row per user in the view ``top_items``,
holding the user's ``top_n`` best items and their scores (``item_1``,
``score_1``, ... ``item_N``, ``score_N``, NaN where the user has fewer
candidates) and the model version that scored them. That is the
"batch candidates, online re-rank" split: the nightly job ranks what it
can ahead of time; the online service serves (or re-ranks) these slates
and falls back to them when the live ranker times out.

**Which score counts.** A (user, item) pair scored at several requests
keeps its latest score (by ``event_timestamp``, then ``impression_id``);
the user's items are ranked by score, ties to the smaller item id. The
row's event time is the user's latest scored request.

**Idempotent.** Rows go through the feature store's
``OnlineStore.write_batch``, where event time wins: a row replaces the
stored one only if its ``(event_us, created_us)`` is larger. Every row of
one job carries the job's creation time as ``created_us``, so publishing
the same output twice changes nothing; a later job (a new model) over the
same requests replaces the rows; an older backfill never overwrites newer
scores. A job that is not complete is refused: half a job's slates would
stay in the store, since re-publishing them later would not count as newer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labs.batch_serving.commit import read_job, read_manifest, read_output
from labs.batch_serving.requests import ID, TIME, list_partitions, select_partitions
from labs.feature_store import OnlineBatch, OnlineStore
from labs.feature_store.schema import epoch_us

VIEW = "top_items"
TOP_N = 10  # ShopStream shows slates of ten


def top_items_features(top_n: int = TOP_N) -> tuple[str, ...]:
    """``item_1..item_N``, ``score_1..score_N``, ``model_version`` (the view's columns)."""
    items = [f"item_{k}" for k in range(1, top_n + 1)]
    scores = [f"score_{k}" for k in range(1, top_n + 1)]
    return (*items, *scores, "model_version")


@dataclass
class PublishReport:
    view: str
    users: int  # rows (users) in the batch
    written: int  # rows the online store changed
    rows_read: int  # scored rows read from the output
    pairs: int  # distinct (user, item) pairs
    top_n: int
    model_version: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def top_items(scored: pd.DataFrame, top_n: int = TOP_N) -> pd.DataFrame:
    """Each user's ``top_n`` items by their latest score, as one wide row per user.

    Args:
        scored: ``user_id``, ``item_id``, ``event_timestamp``,
            ``impression_id``, ``score`` (any order, any number of rows).
        top_n: items kept per user.

    Returns:
        One row per user, sorted by ``user_id``: ``user_id``, ``event_us``
        (the user's latest scored event, epoch µs), ``item_1..item_N`` and
        ``score_1..score_N`` (float64; NaN past the user's last item).
    """
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}.")
    # BEGIN SOLUTION m4: latest score per (user, item) (event_timestamp, then impression_id); rank each user's items by score (ties: smaller item id), keep top_n; pivot to one row per user with its latest event time
    rows = scored.assign(event_us=epoch_us(scored[TIME], TIME))
    rows = rows.sort_values(["user_id", "item_id", "event_us", ID], kind="stable")
    latest = rows.drop_duplicates(["user_id", "item_id"], keep="last")
    ranked = latest.sort_values(
        ["user_id", "score", "item_id"], ascending=[True, False, True], kind="stable"
    )
    rank = ranked.groupby("user_id", sort=False).cumcount().to_numpy()
    top = ranked[rank < top_n]
    rank = rank[rank < top_n]
    users, slot = np.unique(top["user_id"].to_numpy(), return_inverse=True)
    items = np.full((len(users), top_n), np.nan)
    scores = np.full((len(users), top_n), np.nan)
    items[slot, rank] = top["item_id"].to_numpy(dtype=np.float64)
    scores[slot, rank] = top["score"].to_numpy(dtype=np.float64)
    event_us = latest.groupby("user_id", sort=True)["event_us"].max().to_numpy()
    out = pd.DataFrame(
        np.hstack([items, scores]), columns=list(top_items_features(top_n)[:-1])
    )
    out.insert(0, "user_id", users)
    out.insert(1, "event_us", event_us.astype(np.int64))
    return out
    # END SOLUTION


def check_complete(output_dir: Path) -> dict[str, Any]:
    """The job file of a finished job; an error naming what is missing otherwise."""
    job = read_job(output_dir)
    if job is None:
        raise ValueError(
            f"{output_dir} holds no batch job's output (no _job.json); run the job first."
        )
    committed = read_manifest(output_dir)["partitions"]
    identity = job["identity"]
    expected = select_partitions(
        list_partitions(identity["input_dir"]), identity.get("partitions")
    )
    missing = [p.name for p in expected if p.name not in committed]
    if missing:
        raise ValueError(
            f"the job in {output_dir} has {len(expected) - len(missing)} of "
            f"{len(expected)} partitions committed (missing e.g. {missing[:3]}); "
            "re-run it to finish before publishing."
        )
    return job


def publish_top_items(
    output_dir: str | Path,
    online: OnlineStore,
    *,
    top_n: int = TOP_N,
    view: str = VIEW,
) -> PublishReport:
    """Write every user's top items from a finished job's output to ``online``.

    Raises:
        ValueError: the output is missing or the job is not complete.
    """
    started = time.perf_counter()
    output_dir = Path(output_dir)
    job = check_complete(output_dir)
    version = job["identity"]["model_version"]
    scored = read_output(output_dir, columns=[ID, "user_id", "item_id", TIME, "score"])
    # BEGIN SOLUTION m4: build an OnlineBatch (keys = str(user_id), event_us, created_us = the job's created_us for every row, values = items, scores and the numeric model version) and write it with online.write_batch
    wide = top_items(scored, top_n)
    n = len(wide)
    features = top_items_features(top_n)
    values = np.column_stack(
        [
            wide[list(features[:-1])].to_numpy(dtype=np.float64),
            np.full(n, float(version.lstrip("v"))),
        ]
    )
    batch = OnlineBatch(
        keys=wide["user_id"].astype(str).tolist(),
        event_us=wide["event_us"].to_numpy(),
        created_us=np.full(n, int(job["created_us"]), dtype=np.int64),
        values=values,
        features=features,
    )
    written = online.write_batch(view, batch)
    # END SOLUTION
    return PublishReport(
        view=view,
        users=n,
        written=written,
        rows_read=len(scored),
        pairs=int(scored[["user_id", "item_id"]].drop_duplicates().shape[0]),
        top_n=top_n,
        model_version=version,
        seconds=time.perf_counter() - started,
    )


def read_top_items(
    online: OnlineStore,
    user_ids: Sequence[Any],
    *,
    top_n: int = TOP_N,
    view: str = VIEW,
) -> list[list[tuple[int, float]]]:
    """Each user's published ``(item_id, score)`` list, best first (empty if none)."""
    features = top_items_features(top_n)
    read = online.read_batch(view, [str(u) for u in user_ids], list(features[:-1]))
    out = []
    for found, row in zip(read.found, read.values, strict=True):
        if not found:
            out.append([])
            continue
        items, scores = row[:top_n], row[top_n:]
        keep = ~np.isnan(items)
        out.append(
            [(int(i), float(s)) for i, s in zip(items[keep], scores[keep], strict=True)]
        )
    return out

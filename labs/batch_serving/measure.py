"""Measurements shared by ``run.py`` and ``bench.py``: throughput with and without Ray.

    plan = setup("small")                                  # model, store, requests
    single_process(plan, parts, batch_size=4096)           # the baseline loop
    ray_throughput(plan, parts, num_actors=2, batch_size=4096)

Both score the same files with the same code (:class:`Scorer`: read, join
features, predict), so their ratio is Ray's overhead (or speed-up). The
single-process loop runs PyTorch on one thread, like one actor, and skips
the regrouping and writing that neither side needs to be compared on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from labs.batch_serving.pipeline import (
    PipelineConfig,
    PipelineStats,
    actor_config,
    score_partitions,
)
from labs.batch_serving.plan import JobPlan, JobSpec, plan_job
from labs.batch_serving.reader import read_row_groups, read_tasks
from labs.batch_serving.requests import Partition, ensure_requests
from labs.batch_serving.scorer import Scorer

# Ray stops a worker process that has been idle for 1 s (beyond one per CPU),
# so every measured run started its read tasks' processes anew: about 1
# CPU-second each (importing pyarrow, pandas and the reader), 13 of them over
# four runs of one actor, inside the window the actors clock as steady. A long
# job, or a cluster that keeps its workers, pays that once; so do the bench and
# the run page, which keep idle workers for ten minutes and make one unmeasured
# run first. Measured (1 actor, batch 4,096, three runs each): the actor was on
# a CPU 42-51% of its window before, 57-68% after.
KEEP_IDLE_WORKERS = {"idle_worker_killing_time_threshold_ms": 600_000}

# Throughput is measured on the first partitions holding this many rows: two
# days of `small` (8 partitions, 383,840 rows), by the bench and the run page.
# One day gave a steady window under a second (0.7 s for two actors), where
# one actor's last block alone (16k rows, ~80 ms) moved the figure by a tenth:
# two actors over one came out 1.12-1.76x over six runs.
STEADY_ROWS = 350_000


@dataclass
class Setup:
    """Everything a measurement needs for one preset."""

    preset: str
    plan: JobPlan  # the job over the whole input (output folder unused)
    registry_root: Path
    store_root: Path
    requests_root: Path

    def first_day(self, output: Path) -> JobSpec:
        """A job over the first day's partitions of the requests, into ``output``."""
        day = self.plan.partitions[0].name.split("/")[0]
        return JobSpec(
            self.requests_root,
            output,
            self.registry_root,
            self.plan.version,
            self.store_root,
            partitions=f"{day}/*",
        )


def setup(preset: str, seed: int = 0, output: Path | None = None) -> Setup:
    """The production model, the feature store and the requests of ``preset``."""
    from labs.feature_store import build_store
    from labs.training import ensure_production_model

    model = ensure_production_model(preset, seed)
    store = build_store(preset, seed)
    store.close()
    requests = ensure_requests(preset, seed)
    spec = JobSpec(
        requests,
        output or Path("/nonexistent/labkit-measure"),
        model.registry_root,
        model.version,
        Path(store.root),
    )
    return Setup(
        preset, plan_job(spec), model.registry_root, Path(store.root), requests
    )


def first_rows(partitions: Sequence[Partition], rows: int) -> list[Partition]:
    """The first partitions that together hold at least ``rows`` rows (or all)."""
    chosen, total = [], 0
    for partition in partitions:
        chosen.append(partition)
        total += partition.rows
        if total >= rows:
            break
    return chosen


def load_average() -> float:
    return os.getloadavg()[0]


def local_scorer(plan: JobPlan, threads: int = 1) -> Scorer:
    """The scoring actors' own ``Scorer``, built in this process for ``plan``."""
    return Scorer(actor_config(plan, threads))


def score_locally(
    plan: JobPlan, partition: Partition, scorer: Scorer, batch_size: int
) -> Iterator[pa.Table]:
    """``partition``'s rows read and scored here, ``batch_size`` at a time, as the actors do."""
    columns = list(plan.read_columns)
    for task in read_tasks([partition.files]):
        table = read_row_groups({k: np.array([v]) for k, v in task.items()}, columns)
        for start in range(0, table.num_rows, batch_size):
            yield scorer(table.slice(start, batch_size))


def single_process(
    plan: JobPlan, partitions: Sequence[Partition], batch_size: int, threads: int = 1
) -> dict[str, Any]:
    """Read, join and score ``partitions`` in this process, ``batch_size`` rows at a time."""
    started = time.perf_counter()
    scorer = local_scorer(plan, threads)
    startup = time.perf_counter() - started
    cpu = time.process_time()
    rows = 0
    for partition in partitions:
        for scored in score_locally(plan, partition, scorer, batch_size):
            rows += len(scored)
    cpu_s = time.process_time() - cpu
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "startup_s": startup,
        "rows_per_s": rows / seconds,
        "steady_rows_per_s": rows / (seconds - startup),
        "cpu_us_per_row": 1e6 * cpu_s / max(rows, 1),
        "utilisation": cpu_s / max(seconds - startup, 1e-9),  # CPU over wall time
    }


def start_read_workers(
    plan: JobPlan, partitions: Sequence[Partition], actors: int
) -> None:
    """One unmeasured run, so the measured ones reuse its read workers.

    With ``KEEP_IDLE_WORKERS`` in the session, the worker processes it starts
    for the read tasks stay up for the runs that follow.
    """
    ray_throughput(plan, partitions, actors, 4096)


def ray_throughput(
    plan: JobPlan,
    partitions: Sequence[Partition],
    num_actors: int,
    batch_size: int,
) -> dict[str, Any]:
    """Score ``partitions`` with the Ray Data pipeline (nothing written)."""
    stats = PipelineStats()
    started = time.perf_counter()
    rows = 0
    cpu_s = 0.0
    workers: set[int] = set()
    config = PipelineConfig(num_actors=num_actors, batch_size=batch_size)
    for done in score_partitions(plan, partitions, config, stats=stats):
        rows += done.table.num_rows
        cpu_s += done.cpu_s
        workers.update(done.rows_by_worker)
    seconds = time.perf_counter() - started
    # The share of the scoring window each actor spent on a CPU: the actors'
    # CPU seconds over actors × the window. Below 1 they waited (for reads,
    # for the driver, or for cores that the machine's other load held).
    utilisation = cpu_s / (num_actors * stats.scoring_s) if stats.scoring_s > 0 else 0.0
    return {
        "actors": num_actors,
        "batch_size": batch_size,
        "rows": rows,
        "seconds": seconds,
        "startup_s": stats.startup_s,
        "rows_per_s": rows / seconds,
        "steady_rows_per_s": stats.steady_rows_per_s,
        "workers": len(workers),
        "cpu_us_per_row": 1e6 * cpu_s / max(rows, 1),
        "utilisation": utilisation,
    }

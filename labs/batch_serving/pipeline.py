"""m2 — the Ray Data pipeline: read partitions, score on an actor pool, regroup.

    for done in score_partitions(plan, plan.partitions, PipelineConfig(num_actors=2)):
        done.partition.name, done.table        # every row of one partition, scored

The dataset is one streaming plan over every pending file::

    from_items(row groups) -> map_batches(read_row_groups) -> map_batches(Scorer, actor pool) -> driver
                              a task per row group, 0.25 CPU   N actors × 0.5 CPU, model loaded once

Each read task reads one Parquet row group and tags its rows with their
partition's index (an int32, four bytes a row, where ``read_parquet``'s
``include_paths`` would carry the path string on every row). It also keeps
the blocks small and many: ``read_parquet`` in this Ray packs small files
into few blocks (tiny's 12 files came out as one block), and an actor pool
works one block per task, so one actor did everything.

Ray Data streams: reads, scoring and the driver overlap. The reads are
cheap and run ahead of the actors; their blocks wait in Ray's object store,
which spills to disk when it is full, so a month of input never has to fit
in the driver's memory (Ray Data's own budgets are off, see
``score_partitions``). Batches
come back in no particular order and mix partitions, so the driver keeps a
buffer per partition and hands a partition on the moment its row count
reaches the count in the input's Parquet footers; the id check then proves
it holds every input id exactly once. A partition that comes back short
(or long) is an error, never a silent loss.

**Sizing the pool.** On a 2-core machine an actor that reserves a whole
CPU leaves nothing for the read tasks; actors ask for ``cpus_per_actor``
(0.5) and the pool fills the cluster's CPUs minus ``reserve_cpus`` for
reads (``infra.ray_session.actor_pool_size``). On a real cluster the same
arithmetic runs over ``ray.cluster_resources()`` of every node.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from labs.batch_serving.reader import PARTITION, read_row_groups, read_tasks
from labs.batch_serving.requests import ID, KEYS, TIME, Partition
from labs.batch_serving.scorer import (
    CPU,
    ENDED,
    NODE,
    OUTPUT_COLUMNS,
    STARTED,
    WORKER,
    ActorFaults,
    Scorer,
    ScorerConfig,
)

if TYPE_CHECKING:
    from labs.batch_serving.plan import JobPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """How the pipeline runs (none of it changes a score).

    Attributes:
        num_actors: scoring actors; ``None`` sizes the pool to the cluster
            (``actor_pool_size(cpus_per_actor, reserve_cpus)``).
        cpus_per_actor: logical CPUs each actor reserves (fractional is fine).
        reserve_cpus: CPUs left for read tasks when sizing the pool.
        batch_size: rows per ``map_batches`` call.
        read_cpus: logical CPUs per read task.
        threads: PyTorch threads per actor.
        actor_start_timeout_s: how long the pool may take to start (an error
            after that: the cluster cannot place the actors).
    """

    num_actors: int | None = None
    cpus_per_actor: float = 0.5
    reserve_cpus: float = 1.0
    batch_size: int = 4096
    read_cpus: float = 0.25
    threads: int = 1
    actor_start_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if self.num_actors is not None and self.num_actors < 1:
            raise ValueError(f"num_actors must be at least 1, got {self.num_actors}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}.")
        if self.cpus_per_actor <= 0 or self.read_cpus <= 0:
            raise ValueError(
                f"cpus_per_actor ({self.cpus_per_actor}) and read_cpus "
                f"({self.read_cpus}) must be positive; fractions such as 0.5 are fine."
            )

    def pool_size(self) -> int:
        from infra.ray_session import actor_pool_size

        if self.num_actors is not None:
            return self.num_actors
        return actor_pool_size(self.cpus_per_actor, self.reserve_cpus)


@dataclass
class ScoredPartition:
    """Every scored row of one input partition, sorted by id.

    Attributes:
        partition: the input partition.
        table: ``OUTPUT_COLUMNS``, one row per input row.
        rows_by_node: rows scored on each Ray node.
        rows_by_worker: rows scored by each actor process.
        cpu_s: CPU seconds the actors spent on its rows.
    """

    partition: Partition
    table: pa.Table
    rows_by_node: dict[str, int] = field(default_factory=dict)
    rows_by_worker: dict[int, int] = field(default_factory=dict)
    cpu_s: float = 0.0


def output_schema() -> pa.Schema:
    return pa.schema(
        [
            (ID, pa.int64()),
            (KEYS[0], pa.int64()),
            (KEYS[1], pa.int64()),
            (TIME, pa.timestamp("us", tz="UTC")),
            ("score", pa.float64()),
            ("model_version", pa.string()),
        ]
    )


def input_ids(partition: Partition) -> np.ndarray:
    """The partition's row ids, sorted (reads one column of its files)."""
    ids = [pq.read_table(f, columns=[ID])[ID].to_numpy() for f in partition.files]
    return np.sort(np.concatenate(ids)) if ids else np.empty(0, dtype=np.int64)


def check_exactly_once(partition: Partition, table: pa.Table) -> None:
    """The scored ids are exactly the input ids: none lost, none twice."""
    out = table[ID].to_numpy()
    expected = input_ids(partition)
    if len(out) != len(expected) or not np.array_equal(np.sort(out), expected):
        lost = np.setdiff1d(expected, out)
        extra = len(out) - len(np.unique(out))
        raise RuntimeError(
            f"partition {partition.name}: {len(expected):,} rows in, {len(out):,} "
            f"out ({len(lost):,} ids missing, {extra:,} duplicated); refusing to "
            "write it. A scoring UDF must return one row per input row."
        )


def finish_partition(partition: Partition, chunks: list[pa.Table]) -> ScoredPartition:
    """Concatenate a partition's chunks, sort by id, check them, count the work."""
    if chunks:
        tagged = pa.concat_tables(chunks, promote_options="permissive")
    else:
        tagged = output_schema().empty_table()
    order = pc.sort_indices(tagged, sort_keys=[(ID, "ascending")])
    tagged = tagged.take(order)
    table = tagged.select(list(OUTPUT_COLUMNS)).cast(output_schema())
    check_exactly_once(partition, table)
    done = ScoredPartition(partition, table)
    if NODE in tagged.column_names:
        nodes = pc.value_counts(tagged[NODE].cast(pa.string())).to_pylist()
        done.rows_by_node = {d["values"]: d["counts"] for d in nodes}
        workers = pc.value_counts(tagged[WORKER]).to_pylist()
        done.rows_by_worker = {int(d["values"]): d["counts"] for d in workers}
    if CPU in tagged.column_names:
        done.cpu_s = float(pc.sum(tagged[CPU]).as_py() or 0.0)
    return done


def regroup(
    blocks: Iterable[pa.Table], partitions: Sequence[Partition]
) -> Iterator[ScoredPartition]:
    """Turn scored blocks, in any order and mixing partitions, into whole partitions.

    Args:
        blocks: scored rows with a ``partition`` column (an index into
            ``partitions``), as the actors return them.
        partitions: the partitions being scored; ``rows`` is each one's
            expected count.

    Yields:
        Each partition once, the moment its last row arrives
        (:func:`finish_partition`: sorted and checked).

    Raises:
        RuntimeError: a partition receives more rows than it has, or the
            blocks end with a partition short.
    """
    expected = [p.rows for p in partitions]
    seen = [0] * len(partitions)
    chunks: list[list[pa.Table]] = [[] for _ in partitions]
    # BEGIN SOLUTION m2: split each block by partition index and buffer the pieces; yield finish_partition(...) once a partition's count reaches its input rows; more rows than that, or a partition short at the end, is a RuntimeError
    for block in blocks:
        present = np.unique(block[PARTITION].to_numpy()).tolist()
        for i in present:
            piece = (
                block
                if len(present) == 1
                else block.filter(pc.equal(block[PARTITION], i))
            )
            chunks[i].append(piece)
            seen[i] += piece.num_rows
            if seen[i] > expected[i]:
                raise RuntimeError(
                    f"partition {partitions[i].name}: {seen[i]:,} rows came back "
                    f"for {expected[i]:,} in; a row was scored twice."
                )
            if seen[i] == expected[i]:
                done = finish_partition(partitions[i], chunks[i])
                chunks[i] = []  # a finished partition's rows leave the buffer
                yield done
    short = [
        f"{p.name} ({seen[i]:,} of {p.rows:,})"
        for i, p in enumerate(partitions)
        if seen[i] != expected[i]
    ]
    if short:
        raise RuntimeError(
            f"partitions came back short: {', '.join(short)}; rows were lost "
            "between the read and the output. Nothing of them was written."
        )
    # END SOLUTION


@dataclass
class PipelineStats:
    """Where the time went: pool start-up versus steady scoring (for reports).

    The scoring window is measured by the actors themselves (each batch
    carries the wall-clock time its actor started and finished it), not by
    when blocks reach the driver: the driver may receive most blocks in a
    burst long after they were scored, which would make the pool look
    arbitrarily fast.

    Attributes:
        startup_s: from the start until an actor began its first batch (the
            actors start, import PyTorch, load the model and the feature
            index; the first block is read).
        scoring_s: from the first batch's start to the last batch's end, on
            any actor.
        rows: rows scored; ``blocks``: blocks the driver received.
    """

    startup_s: float = 0.0
    scoring_s: float = 0.0
    rows: int = 0
    blocks: int = 0
    first_started: float = math.inf  # epoch s
    last_ended: float = -math.inf

    @property
    def steady_rows_per_s(self) -> float:
        """Rows per second of scoring: ``rows / scoring_s`` (0 before any row)."""
        return self.rows / self.scoring_s if self.scoring_s > 0 else 0.0


def timed(
    blocks: Iterable[pa.Table], stats: PipelineStats, started: float
) -> Iterator[pa.Table]:
    """Pass ``blocks`` through, recording in ``stats`` when the actors scored them.

    ``started`` is the job's start, wall clock (``time.time()``).
    """
    for block in blocks:
        stats.blocks += 1
        stats.rows += block.num_rows
        if block.num_rows and STARTED in block.column_names:
            first = pc.min(block[STARTED]).as_py()
            last = pc.max(block[ENDED]).as_py()
            stats.first_started = min(stats.first_started, first)
            stats.last_ended = max(stats.last_ended, last)
            stats.startup_s = stats.first_started - started
            stats.scoring_s = stats.last_ended - stats.first_started
        yield block


def actor_config(
    plan: JobPlan, threads: int = 1, faults: ActorFaults | None = None
) -> ScorerConfig:
    """What each scoring actor (or a scorer in this process) needs for ``plan``."""
    return ScorerConfig(
        registry_root=str(plan.registry_root),
        model_version=plan.version,
        store_root=None if plan.store_root is None else str(plan.store_root),
        join_features=tuple(plan.join_features),
        threads=threads,
        faults=faults or ActorFaults(),
    )


def score_partitions(
    plan: JobPlan,
    partitions: Sequence[Partition],
    config: PipelineConfig | None = None,
    faults: ActorFaults | None = None,
    stats: PipelineStats | None = None,
) -> Iterator[ScoredPartition]:
    """Score ``partitions`` with Ray Data; yield each one as soon as it is complete.

    Ray must be initialised (``infra.ray_session.ray_session()``).

    Args:
        plan: the validated job (``plan_job``): model version, features, store.
        partitions: the input partitions to score (the job's pending ones).
        config: pool size, CPUs, batch size.
        faults: faults to inject into the actors (tests).
        stats: filled with start-up and scoring times as blocks arrive.

    Yields:
        :class:`ScoredPartition`, in completion order, each checked to hold
        every input id exactly once.

    Raises:
        RuntimeError: a partition came back with rows missing or repeated.
    """
    import ray.data

    config = config or PipelineConfig()
    partitions = list(partitions)
    for partition in partitions:
        if partition.rows == 0:  # no row will ever arrive for it
            yield finish_partition(partition, [])
    partitions = [p for p in partitions if p.rows > 0]
    if not partitions:
        return
    tasks = read_tasks([[f.resolve() for f in p.files] for p in partitions])
    scorer_config = actor_config(plan, config.threads, faults)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # Ray Data's resource reservation divides the cluster's limits among the
    # operators, and in this Ray it reads those limits from its autoscaling
    # coordinator, which had granted nothing yet: every limit and budget was
    # 0, and the allocator refused the actors' next task 70-90 times a run
    # (counted), so no block waited queued at an actor. An actor sat idle
    # 50-120 ms at each block (a third of its scoring window); of two actors,
    # one got 8 of 49 batches. Off, each actor gets its next block at once.
    # What bounds the pipeline then is the pool and the read tasks' CPUs; the
    # reads may run ahead, their blocks waiting in the object store (spilled
    # to disk when it is full), not in the driver.
    context.op_resource_reservation_enabled = False
    # Start the whole pool before the first batch: every actor gets work (a
    # tiny job can otherwise finish on the first actor up), and the time to
    # the first output is the pool's start-up, which the bench reports.
    context.wait_for_min_actors_s = int(config.actor_start_timeout_s)
    pool = config.pool_size()
    log.info(
        "scoring %d partitions (%d rows) on %d actors × %.2g CPU, batch %d",
        len(partitions),
        sum(p.rows for p in partitions),
        pool,
        config.cpus_per_actor,
        config.batch_size,
    )
    started = time.time()  # wall clock: compared with the actors' batch times
    # BEGIN SOLUTION m2: a dataset of the read tasks (one per row group) mapped by read_row_groups on fractional CPUs, then map_batches of the Scorer class on an ActorPoolStrategy of `pool` actors with cpus_per_actor each
    # One row group per read call, so a block each and work for every actor;
    # the Scorer is a class, so each actor of the pool loads the model once.
    dataset = (
        ray.data.from_items(tasks, override_num_blocks=len(tasks))
        .map_batches(
            read_row_groups,
            fn_kwargs={"columns": list(plan.read_columns)},
            batch_size=1,
            batch_format="numpy",
            num_cpus=config.read_cpus,
        )
        .map_batches(
            Scorer,
            fn_constructor_args=(scorer_config,),
            batch_size=config.batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=pool),
            num_cpus=config.cpus_per_actor,
        )
    )
    # END SOLUTION
    blocks = dataset.iter_batches(batch_size=None, batch_format="pyarrow")
    yield from regroup(timed(blocks, stats or PipelineStats(), started), partitions)
    log.info("scored in %.2f s", time.time() - started)

"""The batch scoring job: plan (validate everything), then score what is pending, exactly once.

    from labs.batch_serving import JobSpec, run_job
    report = run_job(JobSpec(input_dir, output_dir, registry_root, model="production",
                             store_root=store.root))
    report.written, report.skipped, report.rows_out

From a shell (the same code; ``RAY_ADDRESS`` set = run on that cluster)::

    python -m labs.batch_serving.job --input data/batch_serving/requests/small-seed0 \\
        --output /tmp/scores --registry data/registry/small-seed0 \\
        --store data/feature_store/small-seed0 --model production --report report.json

The steps, in order:

1. ``plan_job`` (``plan.py``) checks every input before any work: the model
   reference exists (and is pinned to a version), the input has its key
   columns and, with the feature store, every feature the model reads, and
   the output folder is empty or holds this very job. Each problem is one
   clear error.
2. The committer (``commit.py``) locks the output, cleans up after a
   crashed run and lists the partitions not yet committed.
3. Nothing pending: done, without starting Ray. Otherwise the pipeline
   (``pipeline.py``) scores the pending partitions on an actor pool and
   each partition is committed the moment it is complete.

Fault hooks (for the crash tests and the demo): ``--crash-after K`` makes
the driver die (``os._exit``) halfway through writing partition K + 1,
after K commits; ``--kill-actor-on-batch N`` makes one actor die on its
N-th batch (Ray restarts it and retries the batch).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from infra.module_process import Finished, run_bounded
from labs.batch_serving.commit import TEMP_MARK, OutputCommitter, part_path, temp_path
from labs.batch_serving.pipeline import PipelineConfig, PipelineStats, score_partitions
from labs.batch_serving.plan import JobSpec, plan_job
from labs.batch_serving.scorer import ActorFaults

log = logging.getLogger(__name__)

CRASH_EXIT_CODE = 75  # what a job killed by --crash-after exits with


class DiskFull(OSError):
    """The output's disk filled up while a partition was written; nothing partial is left."""


@dataclass(frozen=True)
class Faults:
    """Fault hooks for tests and the demo.

    Attributes:
        crash_after: the driver dies (``os._exit(CRASH_EXIT_CODE)``) after
            this many commits, leaving a half-written temporary file of the
            next partition behind.
        actor: faults injected into the scoring actors.
    """

    crash_after: int | None = None
    actor: ActorFaults = field(default_factory=ActorFaults)


@dataclass
class JobReport:
    """What one run of the job did."""

    model_version: str
    partitions: int  # in the input
    skipped: int  # already committed before this run
    written: int  # committed by this run
    rows_in: int  # rows of the input
    rows_out: int  # rows committed, all runs
    rows_scored: int  # rows scored by this run
    seconds: float
    rows_per_s: float
    pool_size: int = 0
    batch_size: int = 0
    startup_s: float = 0.0  # until an actor began its first batch: start-up
    steady_rows_per_s: float = 0.0  # over the actors' scoring window
    actor_cpu_s: float = 0.0  # CPU the actors spent scoring (not waiting)
    rows_by_node: dict[str, int] = field(default_factory=dict)
    rows_by_worker: dict[str, int] = field(default_factory=dict)
    recovery: dict[str, Any] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_job(
    spec: JobSpec,
    config: PipelineConfig | None = None,
    faults: Faults | None = None,
) -> JobReport:
    """Plan, recover, score what is pending and commit it; idempotent.

    Starts a local Ray only if none is running and work is pending (and
    stops it again); joins ``RAY_ADDRESS`` when set (see ``infra.ray_session``).
    """
    from infra.ray_session import ray_session

    config = config or PipelineConfig()
    faults = faults or Faults()
    started = time.perf_counter()
    plan = plan_job(spec)
    committer = OutputCommitter(spec.output_dir, plan.identity)
    recovery = committer.open()
    try:
        pending = committer.pending(plan.partitions)
        report = JobReport(
            model_version=plan.version,
            partitions=len(plan.partitions),
            skipped=len(plan.partitions) - len(pending),
            written=0,
            rows_in=plan.rows,
            rows_out=0,
            rows_scored=0,
            seconds=0.0,
            rows_per_s=0.0,
            batch_size=config.batch_size,
            recovery=asdict(recovery),
        )
        if pending:
            nodes: Counter[str] = Counter()
            workers: Counter[str] = Counter()
            stats = PipelineStats()
            with ray_session():
                report.pool_size = config.pool_size()
                for done in score_partitions(
                    plan, pending, config, faults.actor, stats
                ):
                    if (
                        faults.crash_after is not None
                        and report.written >= faults.crash_after
                    ):
                        _crash_midway(spec.output_dir, done)
                    _commit(committer, done, report)
                    report.written += 1
                    report.rows_scored += done.table.num_rows
                    report.actor_cpu_s += done.cpu_s
                    nodes.update(done.rows_by_node)
                    workers.update({str(k): v for k, v in done.rows_by_worker.items()})
            report.rows_by_node = dict(nodes)
            report.rows_by_worker = dict(workers)
            report.startup_s = stats.startup_s
            report.steady_rows_per_s = stats.steady_rows_per_s
        report.rows_out = sum(r["rows"] for r in committer.committed.values())
    finally:
        committer.close()
    report.seconds = time.perf_counter() - started
    report.rows_per_s = (
        report.rows_scored / report.seconds if report.rows_scored else 0.0
    )
    if (
        report.skipped + report.written == report.partitions
        and report.rows_out != report.rows_in
    ):
        raise RuntimeError(
            f"the job committed {report.rows_out:,} rows for {report.rows_in:,} input rows."
        )
    return report


def _commit(committer: OutputCommitter, done: Any, report: JobReport) -> None:
    """Commit one scored partition; a full disk becomes an error saying what to do."""
    try:
        committer.commit(done.partition, done.table)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        # Delete what the failed write left (it also frees the space): readers
        # trust the manifest anyway, but a folder listing should not show it.
        output = committer.output_dir
        for folder in (part_path(output, done.partition.name).parent, output):
            for leftover in folder.glob(f"{TEMP_MARK}*"):
                leftover.unlink(missing_ok=True)
        raise DiskFull(
            errno.ENOSPC,
            f"the disk under {output} is full: partition {done.partition.name} "
            f"({done.table.num_rows:,} rows) was not written, and its temporary "
            f"file was deleted. The {report.skipped + report.written} of "
            f"{report.partitions} partitions committed before it are whole and "
            "kept. Free some space (or write to a bigger disk) and run the job "
            "again: it resumes after the last committed partition.",
        ) from exc


def _crash_midway(output_dir: Path, done: Any) -> None:
    """Die like a killed process halfway through writing a partition."""
    tmp = temp_path(output_dir, done.partition.name)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    half = done.table.slice(0, max(1, done.table.num_rows // 2))
    pq.write_table(half, tmp)
    log.error("fault hook: crashing while writing %s", done.partition.name)
    sys.stderr.flush()
    os._exit(CRASH_EXIT_CODE)


def run_job_process(
    spec: JobSpec,
    log_path: Path,
    *flags: str,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 420.0,
) -> Finished:
    """Run ``spec`` as a process of its own, as a scheduler or a cluster would.

    ``python -m labs.batch_serving.job`` with ``spec``'s flags and ``flags``,
    its output in ``log_path``, in its own process group, stopped with
    everything it started (its local Ray too, after a crash) when it ends or
    after ``timeout_s``. Without ``env`` it gets this process's environment
    minus ``RAY_ADDRESS``, so it starts a local Ray of its own; a cluster's
    ``env()`` makes it join that cluster.

    Returns:
        Its exit code (``returncode``: 0, or ``CRASH_EXIT_CODE`` after
        ``--crash-after``) and the tail of its log (``output``).

    Raises:
        infra.module_process.ModuleTimedOut: still running after ``timeout_s``.
    """
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return run_bounded(
        spec.command_line(*flags),
        name="the batch job",
        log_path=log_path,
        timeout_s=timeout_s,
        env=env,
    )


# --- the command line ---------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The job's command line (also what the infra/ray configs' entrypoints must parse)."""
    parser = argparse.ArgumentParser(
        prog="python -m labs.batch_serving.job",
        description="Score request partitions with a registered model, exactly once. "
        "With RAY_ADDRESS set it joins that cluster; otherwise it starts a local Ray.",
    )
    add = parser.add_argument
    add("--input", required=True, type=Path, help="the requests' root folder")
    add("--output", required=True, type=Path, help="the output folder")
    add("--registry", required=True, type=Path, help="the model registry")
    add("--model", default="production", help="a version or an alias")
    add("--store", type=Path, default=None, help="the feature store to join from")
    add("--partitions", default=None, help="glob of partitions to score (a backfill)")
    add(
        "--actors",
        type=int,
        default=None,
        help="pool size (default: sized to the cluster)",
    )
    add("--cpus-per-actor", type=float, default=0.5)
    add("--batch-size", type=int, default=4096)
    add("--num-cpus", type=float, default=None, help="CPUs of a local Ray")
    add("--expect-nodes", type=int, default=1, help="nodes to wait for (RAY_ADDRESS)")
    add("--report", type=Path, default=None, help="write the JSON report here")
    add("--crash-after", type=int, default=None, help="fault: die after K commits")
    add("--kill-actor-on-batch", type=int, default=None, help="fault: an actor dies")
    add("--fault-marker", type=str, default=None, help="file that makes it die once")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    spec = JobSpec(
        args.input, args.output, args.registry, args.model, args.store, args.partitions
    )
    config = PipelineConfig(
        num_actors=args.actors,
        cpus_per_actor=args.cpus_per_actor,
        batch_size=args.batch_size,
    )
    faults = Faults(
        crash_after=args.crash_after,
        actor=ActorFaults(
            die_on_batch=args.kill_actor_on_batch, marker=args.fault_marker
        ),
    )
    plan_job(spec)  # every bad input fails here, before Ray starts
    cluster: dict[str, Any] = {}
    address = os.environ.get("RAY_ADDRESS")
    if address:
        from labs.batch_serving.cluster import connect_cluster

        cluster = connect_cluster(address, expect_nodes=args.expect_nodes).as_dict()
    else:
        from infra.ray_session import init_ray

        # "local": a new Ray of our own, never one another `ray start` left behind.
        extra = {"num_cpus": args.num_cpus} if args.num_cpus else {}
        init_ray(address="local", **extra)
    from infra.ray_session import shutdown_ray

    try:
        report = run_job(spec, config, faults)
    finally:
        shutdown_ray()
    report.cluster = cluster
    payload = json.dumps(report.as_dict(), indent=2)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(payload + "\n")
    log.info(
        "%d partitions: %d skipped, %d written; %d rows in, %d out; %.1f s",
        report.partitions,
        report.skipped,
        report.written,
        report.rows_in,
        report.rows_out,
        report.seconds,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

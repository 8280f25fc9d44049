"""The "Faults" section of ``labkit run batch_serving``: a scoring worker killed mid job.

    worker_killed(results, setup, work)   # one day's partitions, an actor SIGKILLed

The job runs in this process, on the Ray ``run.py`` started, over one day
of requests with two scoring actors. Once it has committed its first
partition, one of its actors' processes is killed (SIGKILL, by pid: a
process of this run's own Ray, found among this process's descendants).
Ray restarts the actor and retries its batch; should the job fail instead,
it is run again, and resumes from its manifest. Then the output is counted
against the input: rows expected, rows written, duplicates and missing
rows, all read back from the files, not from the job's own report.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from common.results import Results
from labs.batch_serving import measure
from labs.batch_serving.commit import read_manifest, read_output
from labs.batch_serving.job import run_job
from labs.batch_serving.pipeline import PipelineConfig, input_ids
from labs.batch_serving.requests import select_partitions

log = logging.getLogger(__name__)

CONFIG = PipelineConfig(num_actors=2, batch_size=1024)  # small batches: a long job
KILL_WAIT_S = 120.0  # for a first commit with an actor still alive, then give up
JOB_WAIT_S = 180.0  # for the job to finish once its actor was killed
POLL_S = 0.05


def scoring_workers(known: set[int]) -> list[Any]:
    """This process's Ray actor processes running a map worker, not in ``known``.

    Its own Ray's processes are this process's descendants; another Ray's are not.
    """
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.pid not in known and "MapWorker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # gone already
            continue
    return found


def worker_killed(results: Results, setup: measure.Setup, work: Path) -> None:
    """Kill a scoring actor of a running job; count the rows of its output."""
    plan = setup.plan
    spec = setup.first_day(work / "worker-killed")
    parts = select_partitions(plan.partitions, spec.partitions)
    before = {p.pid for p in scoring_workers(set())}
    outcome: dict[str, Any] = {}

    def job() -> None:
        try:
            outcome["report"] = run_job(spec, CONFIG)
        except Exception as exc:  # a failed job is resumed below
            outcome["error"] = exc

    started = time.perf_counter()
    runner = threading.Thread(target=job, name="batch-job-under-fault", daemon=True)
    runner.start()
    deadline = time.monotonic() + KILL_WAIT_S
    killed_pid, committed_at_kill = None, 0
    while killed_pid is None and runner.is_alive() and time.monotonic() < deadline:
        time.sleep(POLL_S)
        committed = len(read_manifest(spec.output_dir)["partitions"])
        workers = scoring_workers(before) if committed else []
        if workers:
            victim = workers[0]
            victim.send_signal(signal.SIGKILL)  # one actor of this run's own Ray
            killed_pid, committed_at_kill = victim.pid, committed
    runner.join(JOB_WAIT_S)
    if runner.is_alive():
        raise RuntimeError(
            f"the batch job did not finish within {JOB_WAIT_S:.0f} s of its actor "
            "being killed; see the log above."
        )
    first_run_s = time.perf_counter() - started
    error = outcome.get("error")
    if error is not None:
        log.warning("the job failed after its actor was killed (%s); resuming", error)
        run_job(spec, CONFIG)
    ids = read_output(spec.output_dir, columns=["impression_id"])[
        "impression_id"
    ].to_numpy()
    expected = np.concatenate([input_ids(p) for p in parts])
    figures = {
        "partitions": len(parts),
        "worker_killed": killed_pid is not None,
        "committed_at_kill": committed_at_kill,
        "job_failed": error is not None,
        "resumed": error is not None,
        "rows_expected": len(expected),
        "rows_written": len(ids),
        "duplicates": int(len(ids) - len(np.unique(ids))),
        "missing": len(np.setdiff1d(expected, ids)),
        "unexpected": len(np.setdiff1d(ids, expected)),
        "seconds": time.perf_counter() - started,
        "first_run_s": first_run_s,
    }
    results.add("worker_killed", figures)
    report_worker_killed(results, figures)


def report_worker_killed(results: Results, figures: dict[str, Any]) -> None:
    """The page's "Faults" section from the figures ``worker_killed`` measured."""
    f = figures
    if not f["worker_killed"]:
        what = (
            "No scoring actor was found running after the job's first commit, so "
            "no worker was killed: the figures below are a run without the fault."
        )
    else:
        what = (
            f"One of its two scoring actors was killed (SIGKILL) after "
            f"{f['committed_at_kill']} of {f['partitions']} partitions were committed. "
            + (
                "The job failed and was run again: it resumed from its manifest."
                if f["resumed"]
                else "The job finished on its own (Ray restarts a killed actor and "
                "retries the batch it held)."
            )
        )
    results.text(
        f"## Faults (m3)\n\nOne day of requests ({f['partitions']} partitions), "
        f"scored by 2 actors in batches of {CONFIG.batch_size:,}. {what} The output "
        "is then read back and counted against the input."
    )
    results.table(
        [
            {
                "fault": "scoring actor SIGKILLed mid job",
                "rows expected": f["rows_expected"],
                "rows written": f["rows_written"],
                "duplicates": f["duplicates"],
                "missing": f["missing"],
                "resumed": "yes" if f["resumed"] else "no",
                "seconds": f["seconds"],
            }
        ],
        title="A worker killed mid job",
    )
    lost = f["missing"] + f["duplicates"] + f["unexpected"]
    results.text(
        f"**{f['missing']} rows missing, {f['duplicates']} duplicates** "
        f"({f['rows_written']:,} written for {f['rows_expected']:,} expected, in "
        f"{f['seconds']:.1f} s): "
        + (
            "a killed worker's batch is scored again, and a partition is committed "
            "whole or not at all, so nothing is lost or written twice."
            if lost == 0
            else "ROWS WERE LOST OR REPEATED: the exactly-once guarantee failed."
        )
    )

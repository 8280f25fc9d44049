"""m3 — faults in a running job: the driver killed, a full disk, a scoring worker killed.

Each ends with the same proof: every input id in the output exactly once,
with the scores of an uninterrupted run.

- The crash test kills the job for real: it runs as its own process (with
  a local Ray of its own, as on a laptop) and dies by ``os._exit`` halfway
  through writing its fifth partition. The rerun, here in the test process
  on the session's Ray, must skip the four committed partitions (their
  files untouched), clean up the half-written one, and survive an actor
  dying on its first batch (Ray restarts it and retries the batch).
- The disk fills up (``ENOSPC``) while the third partition is written: the
  job stops with an error that says so and what to do, the manifest lists
  the two partitions before it, no partial file is left, every reader still
  works, and the rerun writes the rest. The scoring is replayed from the
  session's scored partitions (``scored_job``): the fault is in the write.
- A scoring actor's process is killed (SIGKILL, by pid: a process of the
  session's own Ray) while the job runs: Ray restarts it and retries its
  batch, and the job finishes (or, should it fail, the rerun resumes it).
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import labs.batch_serving.job as job_module
from labs.batch_serving import (
    CRASH_EXIT_CODE,
    ActorFaults,
    Faults,
    PipelineConfig,
    read_manifest,
    read_output,
    run_job,
)
from labs.batch_serving.commit import TEMP_MARK, part_path
from labs.batch_serving.job import run_job_process
from labs.batch_serving.publish import check_complete
from labs.batch_serving.run_faults import scoring_workers

FULL_AT = 3  # the disk fills up while this partition (1-based) is written
KILL_WAIT_S = 120.0  # for the job to commit a partition with an actor still scoring
JOB_WAIT_S = 180.0  # for the job to finish once its actor was killed


def assert_exactly_once(output: Path, offline_scores, finished_job) -> None:
    out = read_output(output)
    ids = out["impression_id"].to_numpy()
    assert len(ids) == len(np.unique(ids)), "an impression was written twice"
    np.testing.assert_array_equal(np.sort(ids), offline_scores.index.to_numpy())
    reference = read_output(finished_job.output).set_index("impression_id")["score"]
    scores = out.set_index("impression_id")["score"]
    np.testing.assert_array_equal(scores.sort_index(), reference.sort_index())


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.server
@pytest.mark.timeout(420)  # a subprocess job on a busy machine
def test_a_crashed_job_resumes_and_writes_every_row_exactly_once(
    make_spec, finished_job, offline_scores, file_stamps, tmp_path
) -> None:
    spec = make_spec(tmp_path / "scores")
    crashed = run_job_process(
        spec,
        tmp_path / "crash.log",
        "--crash-after=4",
        "--actors=1",
        "--batch-size=2048",
        timeout_s=240,
    )
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.output
    before = file_stamps(spec.output_dir)
    assert len(before) == 4
    temps = [p for p in spec.output_dir.rglob(f"{TEMP_MARK}*") if p.is_file()]
    assert len(temps) == 1  # the partition it died writing

    marker = tmp_path / "actor-died"
    faults = Faults(actor=ActorFaults(die_on_batch=1, marker=str(marker)))
    report = run_job(spec, PipelineConfig(num_actors=2, batch_size=1024), faults)

    assert (report.skipped, report.written, report.partitions) == (4, 8, 12)
    assert report.recovery["temp_files_removed"] == [
        temps[0].relative_to(spec.output_dir).as_posix()
    ]
    after = file_stamps(spec.output_dir)
    assert {k: after[k] for k in before} == before  # committed files never rewritten
    assert not [p for p in spec.output_dir.rglob(f"{TEMP_MARK}*") if p.is_file()]
    # An actor died on its first batch: none of its rows count; Ray restarted
    # it and retried the batch on the new process.
    dead_pid = marker.read_text().split()[0]
    assert dead_pid not in report.rows_by_worker
    assert len(report.rows_by_worker) == 2, report.rows_by_worker

    assert_exactly_once(spec.output_dir, offline_scores, finished_job)


@pytest.mark.ray
@pytest.mark.slow
def test_a_full_disk_stops_the_job_with_nothing_partial_and_the_rerun_finishes(
    scored_job, finished_job, make_spec, offline_scores, monkeypatch, tmp_path
) -> None:
    spec = make_spec(tmp_path / "scores")

    def replay(plan, pending, *args, **kwargs):
        names = {p.name for p in pending}
        for done in scored_job.partitions:
            if done.partition.name in names:
                yield done

    monkeypatch.setattr(job_module, "score_partitions", replay)
    real_fsync = os.fsync
    folders: list[Path] = []  # of the partition files synced so far, in order

    def fsync(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if path.name.startswith(TEMP_MARK) and path.parent != spec.output_dir:
            if path.parent not in folders:
                folders.append(path.parent)
            if len(folders) == FULL_AT:  # half of it got to the disk, then none
                os.ftruncate(fd, os.fstat(fd).st_size // 2)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match=r"disk .* is full") as failure:
        run_job(spec, PipelineConfig(num_actors=2))
    assert failure.value.errno == errno.ENOSPC
    monkeypatch.setattr(os, "fsync", real_fsync)

    written = [done.partition.name for done in scored_job.partitions]
    assert len(folders) == FULL_AT, f"the partitions written before it: {folders}"
    message = str(failure.value)
    assert written[FULL_AT - 1] in message and "run the job again" in message
    committed = read_manifest(spec.output_dir)["partitions"]
    assert sorted(committed) == sorted(written[: FULL_AT - 1])
    assert not part_path(spec.output_dir, written[FULL_AT - 1]).exists()
    assert not list(spec.output_dir.rglob(f"{TEMP_MARK}*")), "a partial file is left"
    rows = sum(r["rows"] for r in committed.values())
    assert len(read_output(spec.output_dir)) == rows
    with pytest.raises(ValueError, match=rf"{FULL_AT - 1} of 12 partitions committed"):
        check_complete(spec.output_dir)

    report = run_job(spec, PipelineConfig(num_actors=2))
    assert (report.skipped, report.written) == (FULL_AT - 1, 12 - FULL_AT + 1)
    assert_exactly_once(spec.output_dir, offline_scores, finished_job)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(360)
def test_a_scoring_worker_killed_mid_job_loses_and_repeats_no_row(
    make_spec, finished_job, offline_scores, tmp_path
) -> None:
    spec = make_spec(tmp_path / "scores")
    before = {p.pid for p in scoring_workers(set())}
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["report"] = run_job(
                spec, PipelineConfig(num_actors=2, batch_size=256)
            )
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    job = threading.Thread(target=run, name="batch-job", daemon=True)
    job.start()
    deadline = time.monotonic() + KILL_WAIT_S
    victim = None
    while victim is None and job.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
        if not read_manifest(spec.output_dir)["partitions"]:
            continue  # not scoring yet: wait for a first commit
        workers = scoring_workers(before)
        if workers:
            committed_at_kill = len(read_manifest(spec.output_dir)["partitions"])
            victim = workers[0]
            victim.send_signal(signal.SIGKILL)
    assert victim is not None, (
        "no scoring actor of this job was found running after its first commit "
        f"within {KILL_WAIT_S:.0f} s (job still running: {job.is_alive()})"
    )
    victim.wait(timeout=10)
    job.join(JOB_WAIT_S)
    assert not job.is_alive(), (
        f"the job did not finish within {JOB_WAIT_S:.0f} s of its actor being killed"
    )
    if "error" in outcome:  # it may fail; then a rerun must resume it
        run_job(spec, PipelineConfig(num_actors=2))
    assert committed_at_kill < 12, (
        "the job was done before the kill: nothing was tested"
    )
    assert_exactly_once(spec.output_dir, offline_scores, finished_job)

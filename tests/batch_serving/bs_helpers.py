"""Helpers for the batch-serving tests: the job as a real process, file stamps."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from infra.processes import OwnedProcess
from labs.batch_serving import read_manifest

REPO = Path(__file__).resolve().parents[2]


def file_stamps(output: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every committed partition file."""
    stamps = {}
    for name, record in read_manifest(output)["partitions"].items():
        stat = (output / record["file"]).stat()
        stamps[name] = (stat.st_ino, stat.st_mtime_ns)
    return stamps


def run_job_process(
    spec,
    log: Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 420.0,  # generous: a loaded 2-core machine is slow, not stuck
) -> int:
    """``python -m labs.batch_serving.job`` in its own process group; its exit code.

    Without ``env`` the job starts its own local Ray (``RAY_ADDRESS`` is
    removed); a cluster's ``env()`` makes it join that cluster instead.
    """
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    job = OwnedProcess.start(
        spec.command_line(*extra), "batch-job", log, env=dict(env), cwd=REPO
    )
    try:
        return job.proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the job did not finish in {timeout_s:.0f} s:\n{job.log_tail(30)}")
    finally:
        job.stop()
        # A driver that died by os._exit leaves its local Ray's processes in
        # its process group: stop exactly that group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.pid, signal.SIGKILL)

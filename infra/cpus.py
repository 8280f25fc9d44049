"""Which core each process runs on, and how busy the cores are.

    server = start_uvicorn(BARE_APP)
    pin(server.process.pid, server_cpu())          # core 0, or nothing to do
    run_load(server.url, "/score", payloads, cpu=client_cpu())   # core 1

On a 2-core machine a one-worker server is pinned to core 0 and the load
generator to core 1 (``os.sched_setaffinity``), so that neither steals the
other's core between runs and two runs of a study are comparable. Where
there are fewer cores, or no affinity call (macOS), nothing is pinned and
``server_cpu()`` / ``client_cpu()`` are ``None``.
"""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path

SERVER_CPU, CLIENT_CPU = 0, 1


def two_cores() -> bool:
    """Whether pinning server and client to cores 0 and 1 is possible here."""
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def server_cpu() -> int | None:
    """The server's core, or ``None`` where nothing is pinned."""
    return SERVER_CPU if two_cores() else None


def client_cpu() -> int | None:
    """The load generator's core, or ``None`` where nothing is pinned."""
    return CLIENT_CPU if two_cores() else None


def pin(pid: int, cpu: int | None) -> None:
    """Pin a process and its threads to one core (best effort; Linux only)."""
    if cpu is None or not two_cores():
        return
    task_dir = Path(f"/proc/{pid}/task")
    tids = [int(t.name) for t in task_dir.iterdir()] if task_dir.exists() else [pid]
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, {cpu})


def cpu_seconds() -> float:
    """User plus system CPU seconds this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> float:
    """The machine's 1-minute load average (NaN where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

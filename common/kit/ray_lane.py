"""One Ray at a time under ``labkit verify``: the machine-wide Ray lock and its lane.

``labkit verify`` runs several pytest processes at once. Two local Ray
clusters on two cores starve each other (and a test that checks an actor pool
is sized to the machine would then fail for the wrong reason), so a run whose
tests start Ray holds a file lock (its path in ``LABKIT_RAY_LOCK``) for its
whole session; the lock is freed when the process exits.

A run waiting for that lock would hold one of verify's few parallel slots
while doing nothing, and the Ray runs are verify's longest path. So verify
runs every check first in *defer* mode, at a lower CPU priority: a run that
needs Ray exits at once with :data:`RAY_BUSY_EXIT` (before any test runs), and
verify queues it on its Ray lane, which runs such checks one after another,
at normal priority, in *wait* mode. Ray itself starts its worker processes
at niceness 15 (below a driver's), which would put the lane's real work, done
in those workers, below the other runs: the lane's runs start Ray with
worker niceness 0. Without ``LABKIT_RAY_LOCK`` (plain pytest, ``labkit
check``) nothing here applies.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import IO, TypeVar

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: verify runs Ray tests unlocked
    fcntl = None  # type: ignore[assignment]

K = TypeVar("K")
R = TypeVar("R")

LOCK_VAR = "LABKIT_RAY_LOCK"
MODE_VAR = "LABKIT_RAY_LOCK_MODE"  # "defer" or "wait" (the default)
RAY_BUSY_EXIT = 75  # EX_TEMPFAIL: "try again later"
CPU_LANE_NICE = 10  # how much lower the other runs' CPU priority is than the lane's
# Ray reads its settings from RAY_<name> variables; worker_niceness is 15 by default.
RAY_WORKER_NICENESS_VAR = "RAY_worker_niceness"


class RayBusy(Exception):
    """A run in defer mode needs Ray; run it again on the Ray lane."""


def lock_env(wait: bool) -> dict[str, str]:
    """The environment a verify run gets: wait for the lock, or defer to the lane.

    A waiting run is the lane's: the Ray it starts runs its workers at the
    lane's priority, not Ray's default niceness of 15.
    """
    if not wait:
        return {MODE_VAR: "defer"}
    return {MODE_VAR: "wait", RAY_WORKER_NICENESS_VAR: "0"}


def take_lock() -> IO[str] | bool | None:
    """Take the Ray lock as ``LABKIT_RAY_LOCK_MODE`` says, for a run that needs Ray.

    Returns the open lock file (hold it until the process exits), ``None``
    when no lock is in use, or ``False`` in defer mode: the caller should exit
    with :data:`RAY_BUSY_EXIT` before running any test.
    """
    path = os.environ.get(LOCK_VAR)
    if not path or fcntl is None:
        return None
    if os.environ.get(MODE_VAR) == "defer":
        return False
    handle = open(path, "a")  # noqa: SIM115 - held until the process exits
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def run_in_lanes(
    jobs: Mapping[K, Callable[[bool], R]],
    workers: int,
    on_result: Callable[[K, R], object] = lambda key, result: None,
) -> dict[K, R]:
    """Run every job on ``workers`` threads plus the Ray lane; each job's result.

    A job is called with ``wait``: false on the worker threads, where a job
    that needs Ray raises :class:`RayBusy`; it is then queued for the lane,
    which calls it again with ``wait`` true. While no deferred job is queued,
    the lane takes fresh jobs too (with ``wait`` true), so it never idles while
    the Ray jobs are still being found. ``on_result`` is called as each job
    ends; the first job that raises anything else stops the run, re-raised.
    """
    fresh: deque[K] = deque(jobs)
    deferred: deque[K] = deque()
    results: dict[K, R] = {}
    failures: list[BaseException] = []
    changed = threading.Condition()

    def next_job(lane: bool) -> tuple[K, bool] | None:
        with changed:
            while not failures and len(results) < len(jobs):
                if lane and deferred:
                    return deferred.popleft(), True
                if fresh:
                    return fresh.popleft(), lane
                if not lane:
                    return None  # what is left is the lane's
                changed.wait()
            return None

    def work(lane: bool) -> None:
        while (picked := next_job(lane)) is not None:
            key, wait = picked
            try:
                result = jobs[key](wait)
            except RayBusy:
                with changed:
                    deferred.append(key)
                    changed.notify_all()
                continue
            except BaseException as exc:
                with changed:
                    failures.append(exc)
                    changed.notify_all()
                return
            on_result(key, result)
            with changed:
                results[key] = result
                changed.notify_all()

    threads = [
        threading.Thread(target=work, args=(False,), name=f"verify-{i}", daemon=True)
        for i in range(workers)
    ]
    threads.append(
        threading.Thread(target=work, args=(True,), name="ray-lane", daemon=True)
    )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results

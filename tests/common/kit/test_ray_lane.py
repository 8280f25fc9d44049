"""verify's Ray lane: a run that finds the Ray lock taken is run again there, waiting."""

from __future__ import annotations

import fcntl
import threading

import pytest
from rich.console import Console

from common.kit import ray_lane
from common.kit.verify import _run_all
from common.kit.verify_checks import Finding, check_stubbed, check_wrong
from common.kit.wrong import load_catalogue


def test_a_run_that_needs_ray_defers_to_the_lane_or_waits_for_the_lock(
    tmp_path, monkeypatch
):
    path = tmp_path / "ray.lock"
    monkeypatch.setenv(ray_lane.LOCK_VAR, str(path))
    monkeypatch.setenv(ray_lane.MODE_VAR, "defer")
    assert ray_lane.take_lock() is False  # even with the lock free: the lane runs it
    monkeypatch.setenv(ray_lane.MODE_VAR, "wait")
    handle = ray_lane.take_lock()
    assert handle not in (None, False)
    # Held: nobody else gets it.
    with open(path, "a") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.close()
    monkeypatch.delenv(ray_lane.LOCK_VAR)
    assert ray_lane.take_lock() is None  # plain pytest: no lock at all


def test_a_busy_run_is_retried_on_the_ray_lane_and_findings_keep_plan_order():
    calls: list[tuple[str, bool, str]] = []

    def job(name: str, needs_ray: bool):
        def run(warm, wait: bool) -> Finding:
            calls.append((name, wait, threading.current_thread().name))
            if needs_ray and not wait:
                raise ray_lane.RayBusy(name)
            return Finding("lab", name, True, "ran")

        return run

    planned = {"lab": [job("a", True), job("b", False), job("c", True)]}
    found = _run_all(planned, workers=2, console=Console(quiet=True))
    assert [f.check for f in found["lab"]] == ["a", "b", "c"]
    on_lane = [(name, wait) for name, wait, thread in calls if thread == "ray-lane"]
    assert ("a", True) in on_lane and ("c", True) in on_lane
    assert all(wait for _, wait in on_lane)  # the lane always waits for the lock
    assert [name for name, *_ in calls].count("b") == 1  # never deferred, run once


def test_an_idle_lane_takes_fresh_jobs_so_nothing_waits_for_a_worker():
    ran: list[tuple[int, bool, str]] = []

    def job(n: int):
        def run(wait: bool) -> int:
            ran.append((n, wait, threading.current_thread().name))
            return n * n

        return run

    results = ray_lane.run_in_lanes({n: job(n) for n in range(5)}, workers=0)
    assert results == {n: n * n for n in range(5)}
    assert {(wait, thread) for _, wait, thread in ran} == {(True, "ray-lane")}


def test_a_job_that_crashes_is_not_swallowed():
    def broken(warm, wait):
        raise RuntimeError("a bug in a check")

    with pytest.raises(RuntimeError, match="a bug in a check"):
        _run_all({"lab": [broken]}, workers=1, console=Console(quiet=True))


LOCKING_CONFTEST = """
import pytest

from common.kit.ray_lane import RAY_BUSY_EXIT, take_lock

HELD = []


def pytest_collection_modifyitems(config, items):
    handle = take_lock()  # as tests/conftest.py does for a run with Ray tests
    if handle is False:
        pytest.exit("this run needs Ray", RAY_BUSY_EXIT)
    HELD.append(handle)
"""


def test_a_check_that_bounced_runs_again_waiting_and_judges_the_same(
    kit, tmp_path, monkeypatch
):
    (kit.root / "tests" / "conftest.py").write_text(LOCKING_CONFTEST)
    lock = tmp_path / "ray.lock"
    monkeypatch.setenv(ray_lane.LOCK_VAR, str(lock))
    lab = kit.lab("toy")
    answer = next(a for a in load_catalogue(kit, lab) if a.id == "subtracts")
    work = tmp_path / "verify"
    with pytest.raises(ray_lane.RayBusy):
        check_wrong(kit, lab, answer, work, ray_wait=False)
    with pytest.raises(ray_lane.RayBusy):
        check_stubbed(kit, lab, "m1", work, ray_wait=False)
    # On the lane: the same checks, in the same folder, run and judge.
    assert check_wrong(kit, lab, answer, work, ray_wait=True).ok
    assert check_stubbed(kit, lab, "m1", work, ray_wait=True).ok


@pytest.mark.ray
@pytest.mark.extended  # a Ray of its own, ~10 s: a property of verify, not a milestone
def test_the_lanes_ray_runs_its_workers_at_the_lanes_priority(tmp_path):
    """Ray starts workers at niceness 15, below verify's niced runs; not on the lane."""
    import os
    import subprocess
    import sys

    code = (
        "import os, ray\n"
        "from infra.ray_session import init_ray\n"
        "init_ray()\n"
        "try:\n"
        "    print(ray.get(ray.remote(num_cpus=0.5)(lambda: os.nice(0)).remote()))\n"
        "finally:\n"
        "    ray.shutdown()\n"
    )
    env = {**os.environ, **ray_lane.lock_env(True)}
    env.pop(ray_lane.LOCK_VAR, None)  # this run takes no lock: it is not verify's
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(os.nice(0))

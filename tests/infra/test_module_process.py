"""Running a module in its own process: its result, or exactly what went wrong.

The child here is a real ``python -m`` process (a module written to a temp
folder); a failure must be reported as what it was (an exit code with the
child's output, a missing result, a timeout) and a timed-out child must be
gone afterwards, with what it started, checked by pid in ``/proc``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from common.paths import REPO_ROOT
from infra.cpus import CLIENT_CPU, two_cores
from infra.module_process import (
    ModuleExited,
    ModuleTimedOut,
    ModuleWroteNoResult,
    child_pythonpath,
    run_module,
)

CHILD = """
import os, subprocess, sys, time

from infra.module_process import module_main


def compute(spec):
    mode = spec["mode"]
    if mode == "fail":
        print("checking the spec", flush=True)
        raise ValueError("the spec was refused: no such route '/nope'")
    if mode == "silent":
        os._exit(0)  # leaves before module_main writes the result
    if mode == "orphan":  # dies at once, leaving a child of its own behind
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open(spec["pids"], "w") as handle:
            handle.write(f"{os.getpid()} {sleeper.pid}")
        os._exit(3)
    if mode == "slow":
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open(spec["pids"], "w") as handle:
            handle.write(f"{os.getpid()} {sleeper.pid}")
        time.sleep(120)
    return {"echo": spec, "cpus": sorted(os.sched_getaffinity(0))}


if __name__ == "__main__":
    sys.exit(module_main(compute, None, "a child for the tests"))
"""


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``python -m labkit_test_child`` is the module above."""
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / "labkit_test_child.py").write_text(CHILD)
    return {**os.environ, "PYTHONPATH": str(folder)}


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_the_repo_root_comes_first_on_the_childs_path() -> None:
    assert child_pythonpath({"PYTHONPATH": "/x"}, Path("/kit")) == os.pathsep.join(
        ["/kit", "/x"]
    )
    assert child_pythonpath({}, Path("/kit")) == "/kit"
    assert child_pythonpath({"PYTHONPATH": "/x"}) == os.pathsep.join(
        [str(REPO_ROOT), "/x"]
    )


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux affinity")
def test_the_result_comes_back_from_any_directory(
    child_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository: the path must say where it is
    spec = {"mode": "echo", "rows": [1, 2, 3]}
    cpu = CLIENT_CPU if two_cores() else None
    result = run_module(
        "labkit_test_child",
        spec,
        name="the child",
        timeout_s=60,
        cpu=cpu,
        env=child_env,
    )
    assert result["echo"] == spec
    if cpu is not None:
        assert result["cpus"] == [cpu]


def test_a_child_that_fails_is_reported_as_its_error_not_a_timeout(
    child_env: dict[str, str],
) -> None:
    began = time.perf_counter()
    with pytest.raises(ModuleExited) as info:
        run_module(
            "labkit_test_child", {"mode": "fail"}, name="the child", timeout_s=60,
            env=child_env,
        )  # fmt: skip
    assert not isinstance(info.value, ModuleTimedOut)
    assert info.value.returncode == 1
    assert "the child exited with code 1" in str(info.value)
    for text in (str(info.value), info.value.output):
        assert "checking the spec" in text
        assert "ValueError: the spec was refused: no such route '/nope'" in text
    assert time.perf_counter() - began < 30, "an exit was waited for as a timeout"


def test_a_child_that_writes_nothing_is_reported_as_such(
    child_env: dict[str, str],
) -> None:
    with pytest.raises(ModuleWroteNoResult, match="exited with code 0 but wrote no"):
        run_module(
            "labkit_test_child", {"mode": "silent"}, name="the child", timeout_s=60,
            env=child_env,
        )  # fmt: skip


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_slow_child_times_out_and_its_process_group_is_gone(
    child_env: dict[str, str], tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    began = time.perf_counter()
    try:
        with pytest.raises(ModuleTimedOut, match=r"did not finish within 3 s") as info:
            run_module(
                "labkit_test_child", {"mode": "slow", "pids": str(pids)},
                name="the child", timeout_s=3, env=child_env,
            )  # fmt: skip
        assert time.perf_counter() - began < 30
        child, grandchild = (int(p) for p in pids.read_text().split())
        assert info.value.pid == child
        assert not running(child), f"the child {child} still runs"
        deadline = time.monotonic() + 5  # the grandchild's SIGTERM may land later
        while running(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(grandchild), f"the child's child {grandchild} still runs"
    finally:  # should the test fail, leave nothing behind
        for pid in (
            int(p) for p in (pids.read_text().split() if pids.exists() else [])
        ):
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_what_a_child_that_died_left_in_its_group_is_stopped(
    child_env: dict[str, str], tmp_path: Path
) -> None:
    """A crashed job's own processes (its local Ray, say) must not outlive it."""
    pids = tmp_path / "pids"
    try:
        with pytest.raises(ModuleExited, match="exited with code 3"):
            run_module(
                "labkit_test_child", {"mode": "orphan", "pids": str(pids)},
                name="the child", timeout_s=60, env=child_env,
            )  # fmt: skip
        _, grandchild = (int(p) for p in pids.read_text().split())
        deadline = time.monotonic() + 5
        while running(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(grandchild), f"the dead child's child {grandchild} runs on"
    finally:
        for pid in (
            int(p) for p in (pids.read_text().split() if pids.exists() else [])
        ):
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_running_tells_a_live_process_from_none() -> None:
    assert running(os.getpid())
    assert not running(2**22 + 12345)  # above the largest pid Linux hands out

"""``infra.torch_dist``: gloo ranks as local processes, every wait bounded, nothing left behind.

Real rank processes (forked from the fork server) run the programs in
``torch_dist_programs.py``. A failure must name the rank and say what
happened (its traceback, its exit code, or that it never answered) within
seconds, and every process a group started must be gone afterwards,
checked by pid in ``/proc``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra import torch_dist
from infra.torch_dist import (
    PortInUse,
    RankDied,
    RankFailed,
    RankGroup,
    RanksTimedOut,
    launch,
)
from infra.torch_elastic import ElasticGaveUp, run_elastic

HERE = str(Path(__file__).parent)
ENV = {"PYTHONPATH": HERE}  # the ranks import torch_dist_programs from here


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def assert_gone(pids: list[int], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if alive(p)], "rank processes outlived their group"


@pytest.fixture(scope="module")
def group():
    ranks = RankGroup.start(3, env=ENV)
    try:
        yield ranks
    finally:
        ranks.close()
        assert_gone(ranks.spawned)


def test_runs_on_the_first_n_ranks_in_rank_order(group) -> None:
    for world in (1, 3, 2):
        out = group.run("torch_dist_programs:rank_sum", world_size=world, timeout_s=30)
        assert [r["rank"] for r in out] == list(range(world))
        assert {r["sum"] for r in out} == {world * (world + 1) / 2}
        assert [r["env_rank"] for r in out] == [str(r) for r in range(world)]
    with pytest.raises(ValueError, match=r"world_size must be in 1\.\.3"):
        group.run("torch_dist_programs:rank_sum", world_size=4)


def test_a_rank_that_raises_is_named_with_its_traceback(group) -> None:
    with pytest.raises(RankFailed) as failure:
        group.run(
            "torch_dist_programs:raise_on", {"rank": 1}, world_size=3, timeout_s=30
        )
    assert failure.value.rank == 1
    assert "rank 1 refuses the spec on purpose" in failure.value.traceback
    assert "rank 1 (pid" in str(failure.value)
    out = group.run("torch_dist_programs:rank_sum", world_size=3, timeout_s=30)
    assert out[2]["sum"] == 6, "the group works again after a failure"


def test_a_hung_collective_fails_within_its_bound_and_stops_every_rank(group) -> None:
    before = group.pids
    began = time.monotonic()
    with pytest.raises(RanksTimedOut) as failure:
        group.run("torch_dist_programs:wait_for_nobody", world_size=2, timeout_s=2)
    assert time.monotonic() - began < 10
    assert "rank 0 (pid" in str(failure.value) and "within 2 s" in str(failure.value)
    assert_gone(before)
    out = group.run("torch_dist_programs:rank_sum", world_size=2, timeout_s=30)
    assert out[1]["pid"] not in before, "fresh ranks after the stragglers were stopped"


def test_a_killed_rank_is_reported_dead_with_its_signal(group) -> None:
    before = group.pids
    with pytest.raises(RankDied) as failure:
        group.run("torch_dist_programs:die_on", {"rank": 1}, world_size=2, timeout_s=30)
    assert failure.value.rank == 1 and failure.value.returncode == -9
    assert_gone(before)


def test_a_port_in_use_is_refused_before_any_process_starts(monkeypatch) -> None:
    def no_process(*args, **kwargs):
        raise AssertionError("a rank process was started")

    monkeypatch.setattr(torch_dist, "RankProcess", no_process)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(
            PortInUse, match=f"port {port} on 127.0.0.1 is already in use"
        ):
            launch("torch_dist_programs:rank_sum", world_size=2, master_port=port)


def test_run_elastic_restarts_every_rank_after_one_dies() -> None:
    run = run_elastic(
        "torch_dist_programs:die_on",
        {"rank": 1, "attempts": [0]},
        world_size=2,
        max_restarts=1,
        timeout_s=30,
        env=ENV,
    )
    assert run.restarts == 1 and run.results == [1, 1]
    assert "attempt 0: rank 1" in run.failures[0] and "died" in run.failures[0]
    assert len(run.pids) == 4
    assert_gone(run.pids)


def test_run_elastic_gives_up_after_max_restarts() -> None:
    with pytest.raises(ElasticGaveUp, match="failed on all 2 attempts"):
        run_elastic(
            "torch_dist_programs:die_on",
            {"rank": 0, "attempts": [0, 1]},
            world_size=2,
            max_restarts=1,
            timeout_s=30,
            env=ENV,
        )


STARTED_EARLY = """
import json, os, time
from infra.rank_process import fork_server_pid, start_fork_server
from infra.torch_dist import launch

began = time.perf_counter()
start_fork_server()
returned_s = time.perf_counter() - began
server = fork_server_pid()
os.kill(server, 0)  # running, importing torch on its own
results = launch("torch_dist_programs:rank_sum", {}, world_size=2, timeout_s=60)
print(json.dumps({"returned_s": returned_s, "same_server": fork_server_pid() == server,
                  "results": results}))
"""


def test_a_fork_server_started_early_is_the_one_the_first_ranks_come_from():
    """``start_fork_server`` returns without waiting for torch; the first launch uses it."""
    proc = subprocess.run(
        [sys.executable, "-c", STARTED_EARLY],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **ENV},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    # Not waiting for its imports: 2-3 s of torch in a new interpreter.
    assert seen["returned_s"] < 1.0 and seen["same_server"], seen
    assert [(r["rank"], r["sum"]) for r in seen["results"]] == [(0, 3.0), (1, 3.0)]

"""The warm pytest server: a run's torch.distributed ranks are forked from it too.

A run that starts ranks (``infra.torch_dist.RankGroup``) would otherwise
start a fork server of its own and import torch there again, seconds of CPU
per run, dozens of runs per ``labkit verify``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from common.kit.warm_pytest import WarmPytest, available

ROOT = Path(__file__).resolve().parents[3]
PROGRAMS = ROOT / "tests" / "infra"  # torch_dist_programs.py

RUN = """
import json, os
from infra.rank_process import fork_server_pid
from infra.torch_dist import RankGroup

def test_ranks(tmp_path):
    group = RankGroup.start(2, env={"PYTHONPATH": %(programs)r})
    try:
        out = group.run("torch_dist_programs:rank_sum", {}, world_size=2, timeout_s=60)
        parents = [int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
                   for pid in group.spawned]
        record = {"sums": [o["sum"] for o in out], "rank_parents": parents,
                  "own_server": fork_server_pid(), "my_parent": os.getppid()}
    finally:
        group.close()
    with open(%(record)r, "w") as f:
        json.dump(record, f)
"""


@pytest.mark.skipif(not available(), reason="warm runs are Linux-only (forkserver)")
def test_a_runs_ranks_are_forked_by_the_warm_server_not_a_new_one(tmp_path):
    record = tmp_path / "record.json"
    test = tmp_path / "test_ranks.py"
    test.write_text(RUN % {"programs": str(PROGRAMS), "record": str(record)})
    log = tmp_path / "run.log"

    code = WarmPytest().run(["-q", "-p", "no:cacheprovider", str(test)], {}, ROOT, log)

    assert code == 0, log.read_text()[-3000:]
    seen = json.loads(record.read_text())
    assert seen["sums"] == [3.0, 3.0]  # a real all-reduce over both ranks
    if sys.version_info < (3, 12):  # the fork-server protocol reuse relies on
        assert seen["rank_parents"] == [seen["my_parent"]] * 2  # the warm server
        assert seen["own_server"] is None  # and no server of the run's own
    else:  # a server of the run's own, as outside verify
        assert seen["own_server"] is not None
        assert seen["rank_parents"] == [seen["own_server"]] * 2

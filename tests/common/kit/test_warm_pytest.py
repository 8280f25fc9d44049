"""The warm pytest server: a run's torch.distributed ranks and servers are forked from it too.

A run that starts ranks (``infra.torch_dist.RankGroup``) would otherwise
start a fork server of its own and import torch there again, seconds of CPU
per run, dozens of runs per ``labkit verify``; a run that starts a uvicorn
server (``infra.uvicorn_server``) would start a new interpreter for it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from common.kit.warm_pytest import available

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


RUNNER = """
import sys
from pathlib import Path
from common.kit.warm_pytest import WarmPytest
root, log, *args = sys.argv[1:]
sys.exit(WarmPytest().run(args, {}, Path(root), Path(log)))
"""


def warm_run(test: Path, log: Path) -> int:
    """``pytest test`` as verify runs it, from a process of its own.

    A process has one fork server: in the suite's worker an earlier test may
    have started it with less preloaded (ranks), and it cannot be stopped
    while others' processes hold it.
    """
    args = ["-q", "-p", "no:cacheprovider", str(test)]
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(ROOT), str(log), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=150,
        check=False,
    )
    return proc.returncode


def recorded_warm_run(tmp_path: Path, source: str, **values: str) -> dict:
    """Run ``source`` (a test file that writes ``%(record)r``) warm; what it recorded."""
    record = tmp_path / "record.json"
    test = tmp_path / "test_run.py"
    test.write_text(source % {**values, "record": str(record)})
    log = tmp_path / "run.log"
    assert warm_run(test, log) == 0, log.read_text()[-3000:]
    return json.loads(record.read_text())


@pytest.mark.skipif(not available(), reason="warm runs are Linux-only (forkserver)")
def test_a_runs_ranks_are_forked_by_the_warm_server_not_a_new_one(tmp_path):
    seen = recorded_warm_run(tmp_path, RUN, programs=str(PROGRAMS))
    assert seen["sums"] == [3.0, 3.0]  # a real all-reduce over both ranks
    if sys.version_info < (3, 12):  # the fork-server protocol reuse relies on
        assert seen["rank_parents"] == [seen["my_parent"]] * 2  # the warm server
        assert seen["own_server"] is None  # and no server of the run's own
    else:  # a server of the run's own, as outside verify
        assert seen["own_server"] is not None
        assert seen["rank_parents"] == [seen["own_server"]] * 2


APP = """
import importlib.util, os, sys
from fastapi import FastAPI

def create_app():
    print("warm-app-started", file=sys.stderr, flush=True)
    app = FastAPI()

    @app.get("/healthz")
    async def healthz():
        return {"word": os.environ["WARM_APP_WORD"], "cwd": os.getcwd(),
                "sidecar": importlib.util.find_spec("sidecar") is not None}

    return app
"""

SERVE = """
import importlib.util, json, os, httpx
from infra.uvicorn_server import start_uvicorn

def test_server(tmp_path):
    assert importlib.util.find_spec("sidecar")  # pytest put this test's folder first
    server = start_uvicorn("warm_app:create_app",
                           env={"PYTHONPATH": %(apps)r, "WARM_APP_WORD": "forked"})
    try:
        pid = server.process.pid
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        record = {"answer": httpx.get(server.url + "/healthz").json(),
                  "server_parent": int(stat[1]), "own_group": os.getpgid(pid) == pid,
                  "my_parent": os.getppid(), "my_cwd": os.getcwd()}
    finally:
        record["exit"] = server.stop(grace_s=10)
    record["log"] = server.process.log_path.read_text()
    record["log_folder"] = str(server.process.log_path.parent)
    with open(%(record)r, "w") as f:
        json.dump(record, f)
"""


@pytest.mark.skipif(not available(), reason="warm runs are Linux-only (forkserver)")
def test_a_runs_uvicorn_server_is_forked_by_the_warm_server_with_the_runs_env(
    tmp_path,
):
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "warm_app.py").write_text(APP)
    (tmp_path / "sidecar.py").write_text("")  # beside the run's test file
    seen = recorded_warm_run(tmp_path, SERVE, apps=str(apps))

    # The server has the run's environment and working directory, not the
    # test folders pytest put on the run's sys.path (as `python -m uvicorn`
    # would), its own process group and its output in the log, and ends on
    # SIGTERM as a new interpreter's uvicorn does (it shuts down, then raises
    # the signal again: -15).
    assert seen["answer"] == {"word": "forked", "cwd": seen["my_cwd"], "sidecar": False}
    assert seen["own_group"] and "warm-app-started" in seen["log"]
    # The run ends in os._exit, which skips atexit: its logs are removed anyway.
    assert not Path(seen["log_folder"]).exists(), "the run's server logs were left"
    assert seen["exit"] == -signal.SIGTERM
    if sys.version_info < (3, 12):  # forked by the warm server, not a new python
        assert seen["server_parent"] == seen["my_parent"]
    else:
        assert seen["server_parent"] != seen["my_parent"]

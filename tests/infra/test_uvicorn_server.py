"""uvicorn runs the app in its own process on loopback and stops by id."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from infra.apps import BARE_APP
from infra.uvicorn_server import (
    PortTaken,
    ServerDidNotStart,
    running_uvicorn,
    start_uvicorn,
)

pytestmark = pytest.mark.server


def test_bare_app_serves_over_http_and_stops():
    with running_uvicorn(BARE_APP) as server:
        assert server.url.startswith("http://127.0.0.1:")
        response = httpx.post(server.url + "/score", json={"user_id": 1, "item_id": 2})
        assert (
            response.status_code == 200 and response.json()["model_version"] == "bare"
        )
        pid = server.process.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_broken_app_reports_its_log():
    with pytest.raises(ServerDidNotStart, match="no_such_module"):
        start_uvicorn("no_such_module:create_app", timeout_s=20)


def test_a_port_taken_before_uvicorn_binds_is_replaced_but_a_given_one_is_not(
    first_free_port_taken,
):
    """free_port's port can be taken before the server binds it (seen in CI)."""
    with running_uvicorn(BARE_APP) as server:
        assert server.port != first_free_port_taken
        assert httpx.get(server.url + "/healthz").status_code == 200
    with pytest.raises(PortTaken, match="address already in use"):
        start_uvicorn(BARE_APP, port=first_free_port_taken, timeout_s=20)


def test_logs_outlive_their_server_and_go_with_the_process_that_started_them():
    """A restart on the same port keeps both logs; none is left in the temp dir."""
    program = f"""
import json, sys
from infra.apps import BARE_APP
from infra.uvicorn_server import start_uvicorn
first = start_uvicorn({BARE_APP!r})
first.stop()
again = start_uvicorn({BARE_APP!r}, port=first.port)
again.stop()
logs = [str(s.process.log_path) for s in (first, again)]
print(json.dumps({{"logs": logs, "readable": [open(p).read() is not None for p in logs]}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    first, again = (Path(p) for p in seen["logs"])
    assert first != again and first.parent == again.parent, seen
    assert seen["readable"] == [True, True]  # still there after stop()
    assert not first.parent.exists(), f"{first.parent} outlived its process"


def _folder_of_a_child(queue) -> None:  # type: ignore[no-untyped-def]
    from infra.uvicorn_server import _logs_of_this_process

    queue.put(str(_logs_of_this_process()))


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="fork start method: Linux only"
)
def test_the_log_folder_of_a_multiprocessing_child_goes_with_it():
    """A multiprocessing process ends with os._exit (no atexit): its folder must still go."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_folder_of_a_child, args=(queue,))
    child.start()
    folder = Path(queue.get(timeout=30))
    child.join(timeout=30)
    assert child.exitcode == 0
    assert not folder.exists(), f"{folder} outlived the process that made it"


SERVED_FROM_HERE = """
import json, os, sys
from multiprocessing import forkserver

import httpx

from infra import warm_fork
from infra.apps import BARE_APP
from infra.uvicorn_server import running_uvicorn

ok = warm_fork.serve_from_here()
parents = []
for _ in range(2):
    with running_uvicorn(BARE_APP) as server:
        response = httpx.post(server.url + "/score", json={"user_id": 1, "item_id": 2})
        with open(f"/proc/{server.process.pid}/stat") as stat:
            parents.append(int(stat.read().rsplit(")", 1)[1].split()[1]))
print(json.dumps({
    "ok": ok, "status": response.status_code, "parents": parents,
    "me": os.getpid(), "fork_server": forkserver._forkserver._forkserver_pid,
}))
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="Linux only, by design"
)
def test_servers_of_a_process_that_serves_from_here_are_forks_of_its_fork_server():
    """``warm_fork.serve_from_here``: each server is a fork of one fork server, and answers.

    (That a forked server gets its caller's environment is test_warm_pytest's.)
    """
    proc = subprocess.run(
        [sys.executable, "-c", SERVED_FROM_HERE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["ok"] and seen["status"] == 200
    assert seen["fork_server"] not in (None, seen["me"])
    assert seen["parents"] == [seen["fork_server"]] * 2  # not this process's children

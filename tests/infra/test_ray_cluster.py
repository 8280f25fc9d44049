"""infra.ray_cluster without starting a cluster: arguments, environment, the CLI,
and the start-up retry (against a stand-in for the ``ray`` command).

Starting a real two-node cluster is tested where it is used
(``tests/batch_serving/test_m5_scale_out.py``); these checks are instant.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from infra import ray_cluster
from infra.ray_cluster import (
    ClusterStartError,
    LocalCluster,
    ray_executable,
    start_local_cluster,
)


def test_a_cluster_needs_a_node() -> None:
    with pytest.raises(ValueError, match="num_nodes=0"):
        start_local_cluster(num_nodes=0)


def test_the_ray_cli_is_found() -> None:
    assert Path(ray_executable()).name == "ray"


def test_env_points_a_driver_at_the_cluster_and_leaves_the_base_alone() -> None:
    cluster = LocalCluster(
        "127.0.0.1:6399",
        Path("/nonexistent"),
        auth_env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "t0k"},
    )
    base = {"PATH": "/usr/bin", "RAY_ADDRESS": "elsewhere:1"}
    env = cluster.env(base)
    assert env["RAY_ADDRESS"] == "127.0.0.1:6399"
    assert (env["RAY_AUTH_MODE"], env["RAY_AUTH_TOKEN"]) == ("token", "t0k")
    assert env["PATH"] == "/usr/bin"
    assert base["RAY_ADDRESS"] == "elsewhere:1"  # a copy, not the caller's dict
    assert cluster.pids == []


# A stand-in for the `ray` CLI: the head listens on its --port and says it
# started; a worker node fails as `ray start` does when its raylet misses Ray's
# fixed 30 s registration wait, as many times as FAILS says, then starts.
FAKE_RAY = """\
import os, socket, sys, time
from pathlib import Path

args = sys.argv[2:]
if "--head" in args:
    port = int(next(a for a in args if a.startswith("--port=")).split("=")[1])
    server = socket.create_server(("127.0.0.1", port))
    print("Ray runtime started.", flush=True)
    if os.environ.get("FAKE_HEAD_DIES"):
        time.sleep(0.3)
        print("the GCS crashed", flush=True)
        sys.exit(3)
else:
    tries = Path(os.environ["FAKE_TRIES"])
    tried = len(tries.read_text()) if tries.exists() else 0
    tries.write_text("x" * (tried + 1))
    if tried < int(os.environ["FAKE_FAILS"]):
        time.sleep(float(os.environ.get("FAKE_FAIL_AFTER_S", "0")))
        print("Exception: " + os.environ["FAKE_ERROR"], flush=True)
        sys.exit(1)
    print("Ray runtime started.", flush=True)
time.sleep(60)
"""


@pytest.fixture
def fake_ray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[int, str], Path]:
    """Use the stand-in CLI; ``fake_ray(fails, error)`` returns the file counting tries."""
    script = tmp_path / "ray"
    script.write_text(f"#!{sys.executable}\n{FAKE_RAY}")
    script.chmod(0o755)
    monkeypatch.setattr(ray_cluster, "ray_executable", lambda: str(script))

    def configure(fails: int, error: str) -> Path:
        tries = tmp_path / "tries"
        monkeypatch.setenv("FAKE_TRIES", str(tries))
        monkeypatch.setenv("FAKE_FAILS", str(fails))
        monkeypatch.setenv("FAKE_ERROR", error)
        return tries

    return configure


TIMED_OUT = (
    "The current node timed out during startup. This could happen because "
    "some of the raylet failed to startup or the GCS has become overloaded."
)


def test_a_worker_node_that_missed_rays_start_up_wait_is_started_again(
    fake_ray: Callable[[int, str], Path],
) -> None:
    tries = fake_ray(2, TIMED_OUT)
    cluster = start_local_cluster(num_nodes=2, timeout_s=20)
    try:
        assert len(tries.read_text()) == 3  # two timed-out tries, then a start
        assert len(cluster.nodes) == 2 and all(n.alive() for n in cluster.nodes)
        logs = sorted(p.name for p in cluster.temp_dir.glob("node-1*.log"))
        assert logs == ["node-1.2.log", "node-1.3.log", "node-1.log"]
    finally:
        cluster.stop()


def test_a_node_that_fails_otherwise_or_too_often_is_an_error_with_its_log(
    fake_ray: Callable[[int, str], Path],
) -> None:
    tries = fake_ray(1, "port 1234 is already in use")
    with pytest.raises(ClusterStartError, match="already in use"):
        start_local_cluster(num_nodes=2, timeout_s=20)
    assert len(tries.read_text()) == 1  # not retried: it is the node's own error

    tries.unlink()
    fake_ray(ray_cluster.NODE_START_ATTEMPTS, TIMED_OUT)
    with pytest.raises(ClusterStartError, match="timed out during startup"):
        start_local_cluster(num_nodes=2, timeout_s=20)
    assert len(tries.read_text()) == ray_cluster.NODE_START_ATTEMPTS


def test_a_worker_that_timed_out_because_the_head_died_names_the_head(
    fake_ray: Callable[[int, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    tries = fake_ray(1, TIMED_OUT)
    monkeypatch.setenv("FAKE_HEAD_DIES", "1")
    monkeypatch.setenv("FAKE_FAIL_AFTER_S", "1.0")  # the head is gone by then
    with pytest.raises(ClusterStartError, match="ray-head exited with code 3"):
        start_local_cluster(num_nodes=2, timeout_s=20)
    assert len(tries.read_text()) == 1  # no retry against a dead head

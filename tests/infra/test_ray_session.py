"""init_ray's arguments (a local Ray without the dashboard or Ray's metrics export), Ray Train's poll interval, a quick shutdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from infra.ray_session import TRAIN_POLL_S, TRAIN_POLL_VAR, _init, train_poll_interval


class FakeRay:
    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def init(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


QUICK_SHUTDOWN = {
    "enable_metrics_collection": False,
    "task_events_shutdown_flush_timeout_ms": 200,
}


def test_a_local_ray_exports_no_metrics_and_starts_no_dashboard(monkeypatch):
    # With no collector to receive them, a driver that recorded metrics (Ray
    # Serve's do) waited out the exporter's flush at shutdown: 24 s -> 5 s;
    # then 5 s more for its task events' flush: 5 s -> under 0.3 s.
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray = FakeRay()
    _init(ray, {})
    assert ray.kwargs["include_dashboard"] is False
    assert ray.kwargs["_system_config"] == QUICK_SHUTDOWN
    assert ray.kwargs["num_cpus"] >= 1


def test_a_callers_system_config_adds_to_the_kits(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray = FakeRay()
    keep = {"idle_worker_killing_time_threshold_ms": 600_000}
    _init(ray, {"_system_config": keep})
    assert ray.kwargs["_system_config"] == {**QUICK_SHUTDOWN, **keep}


def test_joining_a_cluster_passes_its_address_and_no_system_config(monkeypatch):
    # Ray refuses _system_config when joining: the cluster's own config holds.
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    ray = FakeRay()
    _init(ray, {})
    assert ray.kwargs["address"] == "127.0.0.1:6379"
    assert "_system_config" not in ray.kwargs
    assert "num_cpus" not in ray.kwargs


def test_an_address_passed_in_joins_and_local_starts_a_new_ray(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    joined, local = FakeRay(), FakeRay()
    _init(joined, {"address": "127.0.0.1:6379"})
    _init(local, {"address": "local"})
    assert "_system_config" not in joined.kwargs and "num_cpus" not in joined.kwargs
    assert local.kwargs["address"] == "local"
    assert local.kwargs["_system_config"] == QUICK_SHUTDOWN


def test_ray_train_polls_faster_inside_the_block_and_a_set_value_wins(monkeypatch):
    monkeypatch.delenv(TRAIN_POLL_VAR, raising=False)
    with train_poll_interval():
        assert os.environ[TRAIN_POLL_VAR] == TRAIN_POLL_S
    assert TRAIN_POLL_VAR not in os.environ  # the environment is as it was
    monkeypatch.setenv(TRAIN_POLL_VAR, "5")
    with train_poll_interval():
        assert os.environ[TRAIN_POLL_VAR] == "5"
    assert os.environ[TRAIN_POLL_VAR] == "5"


def test_shutdown_stops_a_local_ray_without_waiting_on_its_monitor():
    """Every process of the Ray is gone, and the shutdown took well under Ray's 1 s wait."""
    program = """
import json, time
import ray
from infra.ray_session import init_ray, shutdown_ray
init_ray(address="local", num_cpus=1)
node = ray._private.worker._global_node
pids = [info.process.pid for infos in node.all_processes.values() for info in infos]
monitor = node.all_processes["monitor"][0].process.pid
began = time.perf_counter()
shutdown_ray()
print(json.dumps({"took": time.perf_counter() - began, "pids": pids,
                  "monitor": monitor, "up": ray.is_initialized()}))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["monitor"] in seen["pids"] and not seen["up"]
    left = [pid for pid in seen["pids"] if _alive(pid)]
    assert not left, f"Ray processes outlived the shutdown: {left}"
    # Plain ray.shutdown() took 1.4 s here, 1.0 s of it waiting on the monitor.
    assert seen["took"] < 0.9, f"the shutdown took {seen['took']:.2f} s"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

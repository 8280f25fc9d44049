"""Start (or join) Ray for the labs: local by default, a cluster via RAY_ADDRESS.

On a 2-core laptop an actor that reserves a whole CPU can starve Ray Data's
read tasks, so labs size actor pools with :func:`actor_pool_size` and give
actors fractional CPUs. The dashboard stays off: it costs seconds at start-up
and memory, and the labs measure everything themselves.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_INIT_LOCK = threading.Lock()


def init_ray(**overrides: Any) -> dict[str, Any]:
    """``ray.init`` for the labs; joins ``RAY_ADDRESS`` when it is set.

    Returns the arguments used, so a results page can say where it ran.
    """
    import ray

    with _INIT_LOCK:  # two threads (a background start, a test) must not both init
        if ray.is_initialized():
            return {"address": "already-initialized"}
        return _init(ray, overrides)


def _init(ray: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    address = overrides.get("address", os.environ.get("RAY_ADDRESS"))
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": True,
        "logging_level": "ERROR",
    }
    if address and address != "local":  # join: the cluster's settings hold
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = os.cpu_count() or 2
        # Ray's own metrics export has no collector here (the dashboard is
        # off), and a driver that recorded metrics (Ray Serve's do) waits out
        # the exporter's flush at shutdown: about 20 s per session. Likewise
        # the driver's last task events (what `ray list tasks` and the
        # dashboard show; nothing here reads them): after a Ray Serve session
        # its shutdown waited 5 s for their flush; 0.2 s at most here.
        kwargs["_system_config"] = {
            "enable_metrics_collection": False,
            "task_events_shutdown_flush_timeout_ms": 200,
            **overrides.pop("_system_config", {}),  # a caller's settings add to these
        }
    kwargs.update(overrides)
    ray.init(**kwargs)
    return kwargs


def shutdown_ray() -> None:
    """``ray.shutdown()``, without the second it waits on Ray's autoscaler monitor.

    A local Ray's shutdown stops the raylet and the GCS, then sends SIGTERM to
    the monitor, whose handler tries to report to the GCS that is gone; Ray
    waits a second for it, then kills it (``kill monitor: 1.02 s`` of a 1.4 s
    shutdown, timed here). Nothing the monitor does matters to a process that
    is going away, so it is killed first. Only the monitor of a Ray this process
    started is touched; if Ray's internals ever move, this is a plain shutdown.
    """
    import ray

    node = getattr(getattr(ray, "_private", None), "worker", None)
    node = getattr(node, "_global_node", None)
    processes = getattr(node, "all_processes", None)
    if isinstance(processes, dict):
        for info in processes.get("monitor", []):
            monitor = getattr(info, "process", None)
            if monitor is not None and monitor.poll() is None:
                monitor.kill()
                monitor.wait(timeout=5)
    ray.shutdown()


@contextmanager
def ray_session(**overrides: Any) -> Iterator[None]:
    """Ray for the duration of a block, shut down even when the block fails."""
    import ray

    started_here = not ray.is_initialized()
    init_ray(**overrides)
    try:
        yield
    finally:
        if started_here:
            shutdown_ray()


# Ray Train's controller looks at its workers every 2 s (its default): a run
# of seconds, as the labs' are, then idles up to 2 s at each change of state
# (workers started, training finished). At 0.2 s, training's m6 Ray Train
# test took 14-16 s here instead of 18 s.
TRAIN_POLL_VAR = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
TRAIN_POLL_S = "0.2"


@contextmanager
def train_poll_interval() -> Iterator[None]:
    """Ray Train runs started in the block poll their workers every ``TRAIN_POLL_S``.

    Ray Train hands the variable from the driver's environment to its
    controller when ``fit()`` starts; a value the caller set wins.
    """
    if TRAIN_POLL_VAR in os.environ:
        yield
        return
    os.environ[TRAIN_POLL_VAR] = TRAIN_POLL_S
    try:
        yield
    finally:
        os.environ.pop(TRAIN_POLL_VAR, None)


def actor_pool_size(cpus_per_actor: float = 0.5, reserve_cpus: float = 1.0) -> int:
    """How many actors fit beside ``reserve_cpus`` left for read and write tasks."""
    import ray

    available = ray.cluster_resources().get("CPU", os.cpu_count() or 2)
    return max(1, int((available - reserve_cpus) / cpus_per_actor))

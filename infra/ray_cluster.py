"""A multi-node Ray cluster on this machine: one ``ray start --block`` per node.

    from infra.ray_cluster import local_cluster
    with local_cluster(num_nodes=2, cpus_per_node=1) as cluster:
        env = {**os.environ, "RAY_ADDRESS": cluster.address}
        subprocess.run([sys.executable, "-m", "labs.batch_serving.job", ...], env=env)

Each node is a real raylet with its own object store, worker pool and ports,
exactly as on separate machines (they just share the disk), and a driver
joins it the way it joins a real cluster: through ``RAY_ADDRESS``. This is
what ``ray.cluster_utils.Cluster`` does for Ray's own tests, with two
differences that matter on a shared machine:

- **Nothing global is touched.** ``ray start`` records the head's address in
  ``<temp-dir>/ray_current_cluster``, and a bare ``ray.init()`` anywhere on
  the machine connects to that address. Each cluster here gets its own short
  temp dir (Unix socket paths are limited to 107 bytes), so nobody else's
  ``ray.init()`` finds it. ``Cluster`` writes ``/tmp/ray/ray_current_cluster``.
- **Stopped by id.** Each ``ray start --block`` runs in its own process
  group (``infra.processes.OwnedProcess``); stopping the cluster signals
  exactly those groups, never ``ray stop`` (which kills every Ray on the
  machine, other people's included).

Every port is chosen free on 127.0.0.1, so several clusters (and the test
session's own Ray) can run side by side.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra.ports import HOST, free_ports, wait_for_port
from infra.processes import OwnedProcess, installed_command

# `ray start` gives its raylet 30 s (fixed inside Ray) to register with the
# head, then exits with this message. On a loaded 2-core machine a worker node
# joining a head that is itself still starting can miss it: such a node is
# started again, on fresh ports, while the cluster's own timeout lasts.
RAY_START_TIMED_OUT = "timed out during startup"
NODE_START_ATTEMPTS = 3
MIN_RETRY_S = 15.0  # a try with less of the cluster's timeout left would fail anyway


class ClusterStartError(RuntimeError):
    """A node of the local cluster did not come up."""


def ray_executable() -> str:
    """The ``ray`` CLI next to this interpreter (the venv's), else on PATH."""
    found = installed_command("ray")
    if found is None:
        raise ClusterStartError(
            "the `ray` command is not installed next to this Python or on PATH; "
            "install the kit (`make install`)."
        )
    return found


_NODE_LISTENERS = (
    "node-manager",
    "object-manager",
    "dashboard-agent-listen",
    "dashboard-agent-grpc",
    "runtime-env-agent",
    "metrics-export",
)


def _node_ports(given: set[int]) -> list[str]:
    """A free port for every listener a node opens, none given out before.

    ``given`` holds every port this cluster has handed out, and gets these:
    two listeners on one port stop a node (Ray: "trying to use a port number
    ... that is used by other components"), and a node that has not bound its
    ports yet cannot protect them.
    """
    ports = free_ports(len(_NODE_LISTENERS), avoid=given)
    given.update(ports)
    return [
        f"--{name}-port={p}" for name, p in zip(_NODE_LISTENERS, ports, strict=True)
    ]


@dataclass
class LocalCluster:
    """The running nodes; ``address`` is what ``RAY_ADDRESS`` should say."""

    address: str
    temp_dir: Path
    nodes: list[OwnedProcess] = field(default_factory=list)
    cpus_per_node: float = 1.0
    auth_env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def pids(self) -> list[int]:
        return [node.pid for node in self.nodes]

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment whose ``ray.init()`` joins this cluster."""
        env = dict(os.environ if base is None else base)
        env["RAY_ADDRESS"] = self.address
        env.update(self.auth_env)
        return env

    def stop(self) -> None:
        """Kill every node's process group: raylet, GCS, agents and workers.

        Nothing of a local cluster outlives it (its temp dir, logs included,
        is deleted next), so there is nothing to stop gracefully: ``ray start
        --block`` takes about 3.5 s to stop its processes one by one on
        SIGTERM, and a killed group is gone at once.
        """
        for node in reversed(self.nodes):
            node.stop(grace_s=10.0, sig=signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_local_cluster(
    num_nodes: int = 2,
    cpus_per_node: float = 1.0,
    object_store_mb: int = 200,
    timeout_s: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> LocalCluster:
    """Start a head and ``num_nodes - 1`` worker nodes; return when all listen.

    Args:
        num_nodes: nodes including the head (at least 1).
        cpus_per_node: logical CPUs each node offers to the scheduler.
        object_store_mb: each node's shared-memory object store.
        timeout_s: how long a node may take to start.
        env: the nodes' environment (their workers inherit it); this process's
            by default. ``RAY_ADDRESS`` is removed from it.

    Raises:
        ClusterStartError: a node exited or did not listen in time (with its log).
    """
    if num_nodes < 1:
        raise ValueError(
            f"a cluster needs at least one node, got num_nodes={num_nodes}."
        )
    ray = ray_executable()
    # Short on purpose: Ray's Unix sockets live under it (107-byte limit).
    temp_dir = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
    node_env = dict(os.environ if env is None else env)
    node_env.pop("RAY_ADDRESS", None)
    node_env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # A test cluster has nothing to drain: stop at once on SIGTERM (the default
    # waits up to 30 s for Serve replicas to move away).
    node_env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"
    # Token authentication with a token made for this cluster alone: every
    # node and every driver must present it (as on a real cluster, where it is
    # a secret the nodes and the job submitter share).
    node_env["RAY_AUTH_MODE"] = "token"
    node_env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    port, client_port = free_ports(2)
    given = {port, client_port}  # every port this cluster hands out
    address = f"{HOST}:{port}"
    common = [
        "--block",
        f"--num-cpus={cpus_per_node:g}",
        f"--object-store-memory={object_store_mb * 2**20}",
        f"--node-ip-address={HOST}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]
    cluster = LocalCluster(
        address,
        temp_dir,
        cpus_per_node=cpus_per_node,
        auth_env={k: node_env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")},
    )
    try:
        head = [
            ray,
            "start",
            "--head",
            f"--port={port}",
            f"--ray-client-server-port={client_port}",
            "--include-dashboard=false",
            *common,
            *_node_ports(given),
        ]
        cluster.nodes.append(
            OwnedProcess.start(head, "ray-head", temp_dir / "head.log", env=node_env)
        )
        # Workers need only the head's GCS: start them as soon as it listens,
        # so their start-up overlaps the head's raylet and agents (on a loaded
        # 2-core machine each node takes ~10 s; in sequence that doubles).
        _wait_listening(cluster.nodes[0], port, timeout_s)

        def start_worker(index: int, attempt: int) -> OwnedProcess:
            """``ray start`` for worker node ``index``: its ``attempt``-th try, on fresh ports."""
            args = [ray, "start", f"--address={address}", *common, *_node_ports(given)]
            suffix = "" if attempt == 1 else f".{attempt}"
            log = temp_dir / f"node-{index}{suffix}.log"
            return OwnedProcess.start(args, f"ray-node-{index}", log, env=node_env)

        for i in range(1, num_nodes):
            cluster.nodes.append(start_worker(i, 1))
        _wait_started(cluster.nodes[0], timeout_s)
        for i in range(1, num_nodes):
            _wait_worker_started(cluster, i, start_worker, timeout_s)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_worker_started(
    cluster: LocalCluster,
    index: int,
    start: Callable[[int, int], OwnedProcess],
    timeout_s: float,
) -> None:
    """Wait for worker node ``index``; start it again if Ray's own wait ran out.

    Only that failure is retried (``RAY_START_TIMED_OUT``, at most
    ``NODE_START_ATTEMPTS`` tries in all, while ``MIN_RETRY_S`` of the timeout
    is left): any other exit is the node's real error and is raised with its
    log, and a head that died is named instead of the node. The failed try is
    stopped, with everything it started, before the next begins.
    """
    deadline = time.monotonic() + timeout_s
    for attempt in range(2, NODE_START_ATTEMPTS + 2):
        node = cluster.nodes[index]
        try:
            _wait_started(node, max(deadline - time.monotonic(), 1.0))
            return
        except ClusterStartError:
            head = cluster.nodes[0]
            if not head.alive():  # the real error is the head's
                raise ClusterStartError(
                    f"{head.name} exited with code {head.proc.returncode}:\n"
                    f"{head.log_tail()}"
                ) from None
            if (
                attempt > NODE_START_ATTEMPTS
                or RAY_START_TIMED_OUT not in node.log_tail()
                or deadline - time.monotonic() < MIN_RETRY_S
            ):
                raise
        node.stop(grace_s=5.0)
        cluster.nodes[index] = start(index, attempt)


def _wait_listening(node: OwnedProcess, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not node.alive():
            raise ClusterStartError(
                f"{node.name} exited with code {node.proc.returncode}:\n{node.log_tail()}"
            )
        if wait_for_port(port, timeout_s=0.5):
            return
    raise ClusterStartError(
        f"{node.name} did not listen on {HOST}:{port} within {timeout_s:.0f} s:\n"
        f"{node.log_tail()}"
    )


def _wait_started(node: OwnedProcess, timeout_s: float) -> None:
    """``ray start --block`` prints "Ray runtime started." once its raylet is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not node.alive():
            raise ClusterStartError(
                f"{node.name} exited with code {node.proc.returncode}:\n{node.log_tail()}"
            )
        with contextlib.suppress(OSError):
            if "Ray runtime started" in node.log_path.read_text(errors="replace"):
                return
        time.sleep(0.1)
    raise ClusterStartError(
        f"{node.name} did not start within {timeout_s:.0f} s:\n{node.log_tail()}"
    )


@contextlib.contextmanager
def local_cluster(
    num_nodes: int = 2, cpus_per_node: float = 1.0, **options: object
) -> Iterator[LocalCluster]:
    """A local multi-node cluster for the duration of a block, always stopped."""
    cluster = start_local_cluster(num_nodes, cpus_per_node, **options)  # type: ignore[arg-type]
    try:
        yield cluster
    finally:
        cluster.stop()

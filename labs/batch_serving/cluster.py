"""m5 — scale out: join a Ray cluster, and size the actor pool for a deadline.

    export RAY_ADDRESS=127.0.0.1:6379            # a local multi-node cluster, or a real one
    python -m labs.batch_serving.job ... --expect-nodes 2

    from labs.batch_serving.cluster import plan_actors
    plan_actors(rows=500e6, deadline_s=6 * 3600, rows_per_s_per_actor=40_000)

**Joining.** The job's code is the same on one laptop and on fifty nodes:
``connect_cluster`` joins the cluster at ``RAY_ADDRESS`` instead of
starting one, waits until the expected nodes are alive (a cluster that is
still scaling up would otherwise run everything on the head), and ships
the environment the workers need (``runtime_env``): where the data is, the
thread limits, the workspace overlay. Ray Data places the actor pool over
every node's CPUs; each batch records its node, so the report shows where
the work went.

**Sizing.** With a measured per-actor throughput ``r`` (rows/s), a
start-up cost ``s`` (seconds to bring up an actor: load the model, build
the feature index) and a deadline ``D`` kept with headroom ``h`` for
retries and stragglers, ``n`` actors finish ``N`` rows in
``s + N / (n·r)`` seconds, so the smallest pool is

    n = ⌈ N / (r · (D / (1 + h) − s)) ⌉,

which needs ``n · cpus_per_actor`` CPUs. The deadline is impossible at
any size when ``D / (1 + h) ≤ s``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

# What a worker on another machine needs to see of the driver's environment.
PROPAGATED_ENV = (
    "LABKIT_OVERLAY",  # the candidate's workspace copy of a lab
    "LABKIT_DATA",  # where datasets, stores and registries live
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)


@dataclass
class ClusterInfo:
    """The cluster the job joined: its address and its alive nodes."""

    address: str
    nodes: list[dict[str, Any]] = field(default_factory=list)  # node_id, ip, cpus

    @property
    def cpus(self) -> float:
        return float(sum(n["cpus"] for n in self.nodes))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cpus": self.cpus}


def propagated_env() -> dict[str, str]:
    """The variables of :data:`PROPAGATED_ENV` that are set here."""
    return {k: os.environ[k] for k in PROPAGATED_ENV if os.environ.get(k)}


def alive_nodes() -> list[dict[str, Any]]:
    """Alive nodes of the connected cluster: id, address and CPUs."""
    import ray

    return [
        {
            "node_id": n["NodeID"],
            "ip": n.get("NodeManagerAddress", ""),
            "cpus": float(n.get("Resources", {}).get("CPU", 0.0)),
        }
        for n in ray.nodes()
        if n.get("Alive")
    ]


def connect_cluster(
    address: str | None = None, expect_nodes: int = 1, timeout_s: float = 60.0
) -> ClusterInfo:
    """Join the Ray cluster at ``address`` (``RAY_ADDRESS``) and wait for its nodes.

    Args:
        address: ``host:port`` of the head's GCS (or ``ray://host:10001``);
            ``RAY_ADDRESS`` when omitted.
        expect_nodes: return only once this many nodes are alive.
        timeout_s: how long to wait for them.

    Raises:
        ValueError: no address given and ``RAY_ADDRESS`` unset.
        TimeoutError: fewer than ``expect_nodes`` alive nodes after ``timeout_s``.
    """
    from infra.ray_session import init_ray

    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ValueError(
            "no cluster to join: pass address= or set RAY_ADDRESS (e.g. "
            "RAY_ADDRESS=127.0.0.1:6379 for a `ray start --head --port=6379`)."
        )
    # BEGIN SOLUTION m5: ray.init at the address with runtime_env env_vars (propagated_env()), then poll alive_nodes() until expect_nodes are up (TimeoutError naming the counts otherwise)
    init_ray(address=address, runtime_env={"env_vars": propagated_env()})
    deadline = time.monotonic() + timeout_s
    nodes = alive_nodes()
    while len(nodes) < expect_nodes:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the cluster at {address} has {len(nodes)} of {expect_nodes} expected "
                f"nodes alive after {timeout_s:.0f} s; start the missing workers "
                "(`ray start --address=<head>`) or lower --expect-nodes."
            )
        time.sleep(0.2)
        nodes = alive_nodes()
    return ClusterInfo(address, nodes)
    # END SOLUTION


@dataclass(frozen=True)
class ActorPlan:
    """How many actors a job needs to meet its deadline.

    Attributes:
        actors: the smallest pool that finishes in time.
        cpus: CPUs the pool reserves (``actors · cpus_per_actor``).
        expected_s: ``startup_s + rows / (actors · rows_per_s_per_actor)``.
        budget_s: the deadline after headroom, ``deadline_s / (1 + headroom)``.
        fits: whether ``cpus`` fit the cluster (``None``: cluster not given).
    """

    actors: int
    cpus: float
    expected_s: float
    budget_s: float
    fits: bool | None


def plan_actors(
    rows: float,
    deadline_s: float,
    rows_per_s_per_actor: float,
    *,
    startup_s: float = 0.0,
    headroom: float = 0.25,
    cpus_per_actor: float = 0.5,
    cluster_cpus: float | None = None,
) -> ActorPlan:
    """The smallest actor pool that scores ``rows`` within ``deadline_s`` (module doc).

    Args:
        rows: rows to score.
        deadline_s: wall-clock seconds available.
        rows_per_s_per_actor: measured steady throughput of one actor.
        startup_s: seconds before an actor scores its first row.
        headroom: share of the deadline kept free (0.25: finish by 80% of it).
        cpus_per_actor: CPUs (or GPUs) each actor reserves.
        cluster_cpus: the cluster's CPUs, to say whether the plan fits.

    Raises:
        ValueError: a non-positive rate or deadline, negative rows, startup or
            headroom, or a deadline that start-up alone exceeds.
    """
    if rows < 0 or startup_s < 0 or headroom < 0:
        raise ValueError(
            f"rows ({rows}), startup_s ({startup_s}) and headroom ({headroom}) "
            "must not be negative."
        )
    if deadline_s <= 0 or rows_per_s_per_actor <= 0:
        raise ValueError(
            f"deadline_s ({deadline_s}) and rows_per_s_per_actor "
            f"({rows_per_s_per_actor}) must be positive."
        )
    budget = deadline_s / (1.0 + headroom)
    # BEGIN SOLUTION m5: n = ceil(rows / (r · (budget − startup))), at least 1; ValueError when budget ≤ startup; expected_s, cpus and fits from n
    scoring_s = budget - startup_s
    if scoring_s <= 0:
        raise ValueError(
            f"the deadline of {deadline_s:g} s leaves {budget:g} s after "
            f"{headroom:.0%} headroom, but an actor needs {startup_s:g} s to start: "
            "no pool size can make it. Start the actors earlier (keep them warm) or "
            "move the deadline."
        )
    actors = max(1, math.ceil(rows / (rows_per_s_per_actor * scoring_s)))
    # Floating point: ceil can land one above the exact minimum; step back if it fits.
    while actors > 1 and rows / ((actors - 1) * rows_per_s_per_actor) <= scoring_s:
        actors -= 1
    cpus = actors * cpus_per_actor
    return ActorPlan(
        actors=actors,
        cpus=cpus,
        expected_s=startup_s + rows / (actors * rows_per_s_per_actor),
        budget_s=budget,
        fits=None if cluster_cpus is None else cpus <= cluster_cpus,
    )
    # END SOLUTION

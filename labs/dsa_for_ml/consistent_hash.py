"""m3 — consistent hashing with virtual nodes: shard a cache so a new node moves ~1/n.

    from labs.dsa_for_ml.consistent_hash import HashRing
    ring = HashRing(["cache-0", "cache-1", "cache-2"], vnodes=100)
    ring.node_for("user_activity:42")     # which shard holds this key
    ring.add_node("cache-3")              # about a quarter of the keys move, all to it

Every node is placed on a ring of 2^64 positions at ``vnodes`` pseudo-random
points (``stable_hash(f"{node}#{i}")``). A key belongs to the node of the
first point at or after the key's own position, wrapping past 2^64 − 1 to
the start. Adding a node only takes over the arcs just before its points, so
only keys that now belong to it move (about ``1/(n + 1)`` of them); removing
a node hands its arcs to the next points, so only its own keys move. Compare
``hash(key) % n``, which moves about ``n/(n + 1)`` of all keys when ``n``
changes.

One point per node gives arcs of very unequal length (a node's share is
roughly exponential: the largest of 10 nodes can own 3x the mean); ``v``
points per node average ``v`` arcs, so the spread of the load shrinks like
``1/√v``. Points that collide (equal positions) are ordered by node name, so
the ring is deterministic.

The hash is not Python's ``hash()``: that one is salted per process, and
every replica of a service must agree on where a key lives.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable

import numpy as np

RING_SIZE = 2**64


def stable_hash(key: str) -> int:
    """A 64-bit position on the ring, the same in every process (BLAKE2b)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def vnode_points(node: str, vnodes: int) -> list[int]:
    """The ring positions of ``node``'s virtual nodes: ``stable_hash(f"{node}#{i}")``."""
    return [stable_hash(f"{node}#{i}") for i in range(vnodes)]


def modulo_node(key: str, nodes: list[str]) -> str:
    """The naive alternative: ``stable_hash(key) mod n`` over a fixed node list."""
    if not nodes:
        raise LookupError("no nodes to place the key on; pass at least one node.")
    return nodes[stable_hash(key) % len(nodes)]


class HashRing:
    """A consistent-hash ring with ``vnodes`` virtual nodes per node.

    Args:
        nodes: the initial nodes (distinct names).
        vnodes: points on the ring per node (at least 1).
    """

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 100):
        if isinstance(vnodes, bool) or not isinstance(vnodes, int) or vnodes < 1:
            raise ValueError(f"vnodes must be an integer >= 1, got {vnodes!r}.")
        self.vnodes = vnodes
        self._points: list[int] = []  # sorted ring positions
        self._owners: list[str] = []  # the node of each position, same order
        self._nodes: set[str] = set()
        for node in nodes:
            self.add_node(node)

    @property
    def nodes(self) -> list[str]:
        return sorted(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def add_node(self, node: str) -> None:
        """Place ``node``'s ``vnodes`` points on the ring."""
        if not isinstance(node, str) or not node:
            raise ValueError(f"a node is a non-empty string name, got {node!r}.")
        if node in self._nodes:
            raise ValueError(f"node {node!r} is already on the ring; remove it first.")
        self._nodes.add(node)
        # BEGIN SOLUTION m3: insert each virtual-node point into the sorted positions, keeping (position, node) order
        for point in vnode_points(node, self.vnodes):
            i = bisect.bisect_left(self._points, point)
            while (
                i < len(self._points)
                and self._points[i] == point
                and self._owners[i] < node
            ):
                i += 1  # equal positions are ordered by node name
            self._points.insert(i, point)
            self._owners.insert(i, node)
        # END SOLUTION

    def remove_node(self, node: str) -> None:
        """Take ``node``'s points off the ring; its keys go to the next points."""
        if node not in self._nodes:
            raise ValueError(f"node {node!r} is not on the ring; nodes: {self.nodes}.")
        self._nodes.discard(node)
        # BEGIN SOLUTION m3: drop every position owned by the node
        keep = [i for i, owner in enumerate(self._owners) if owner != node]
        self._points = [self._points[i] for i in keep]
        self._owners = [self._owners[i] for i in keep]
        # END SOLUTION

    def node_for(self, key: str) -> str:
        """The node owning ``key``: first point at or after its position, wrapping."""
        if not self._points:
            raise LookupError(
                "the ring has no nodes; add_node() before placing keys on it."
            )
        position = stable_hash(key)
        # BEGIN SOLUTION m3: binary-search the first point >= the key's position, wrapping to the start
        i = bisect.bisect_left(self._points, position)
        return self._owners[i if i < len(self._points) else 0]
        # END SOLUTION

    def assign(self, keys: Iterable[str]) -> dict[str, str]:
        """``{key: node}`` for many keys."""
        return {key: self.node_for(key) for key in keys}


def load_spread(counts: Iterable[float]) -> dict[str, float]:
    """How evenly a load is spread over nodes.

    Returns:
        ``max_over_mean`` (1.0 is perfect; the hottest node's excess is what
        capacity is sized for) and ``cv``, the coefficient of variation
        (standard deviation / mean).
    """
    values = np.asarray(list(counts), dtype=np.float64)
    if values.size == 0 or values.mean() == 0:
        raise ValueError("load_spread needs at least one node with some load.")
    mean = values.mean()
    return {
        "max_over_mean": float(values.max() / mean),
        "cv": float(values.std() / mean),
    }

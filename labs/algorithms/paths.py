"""m2 — shortest paths: BFS hop counts and Dijkstra on ShopStream's co-view graph.

    from labs.algorithms.paths import bfs_distances, dijkstra, path_to
    hops = bfs_distances(neighbours, item)          # {item: hops from `item`}
    dist, previous = dijkstra(edges, item)          # edges: {a: [(b, weight), ...]}
    path_to(previous, item, other)                  # [item, ..., other]

**BFS** answers "how many clicks apart are two items" on an unweighted
graph. A FIFO queue hands out nodes in order of distance, so a node's
distance is fixed the moment it is *discovered*: mark it then (not when it
is taken from the queue), and each node enters the queue once. O(V + E).

**Dijkstra** answers the weighted version: with the co-view weights
``-log P(next click is b | clicked a)`` the shortest path is the *likeliest
chain of clicks*. A min-heap hands out the closest unsettled node; its
distance is then final, because every other route passes through a node at
least as far. Improving a node pushes a new heap entry rather than updating
the old one, so the heap holds *stale* entries: skip an entry whose node is
already settled, or the node's edges are scanned again. Each reachable
node's edges are read exactly once (the tests count the reads). O((V + E)
log V). Weights must be non-negative; a negative weight breaks the argument
above, and the function refuses it.

``dijkstra_dense`` (given) is the textbook version without a heap: a linear
scan for the closest node, O(V^2). It wins on dense graphs (E near V^2) and
loses badly on sparse ones like the co-view graph; ``labkit run`` measures
both.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

Node = Any  # hashable: item ids, step names


def _check_source(graph: Mapping[Node, Any], source: Node) -> None:
    if source not in graph:
        raise ValueError(
            f"source {source!r} is not a node of the graph; every node, even one "
            "without edges, must be a key."
        )


def bfs_distances(neighbours: Mapping[Node, Iterable[Node]], source: Node) -> dict:
    """Hops from ``source`` to every node reachable from it.

    Args:
        neighbours: each node mapped to the nodes one edge away; every
            neighbour is itself a key.
        source: where to start.

    Returns:
        ``{node: hops}`` for the reachable nodes only, ``source`` at 0.

    >>> bfs_distances({1: [2], 2: [3], 3: [], 4: [1]}, 1)
    {1: 0, 2: 1, 3: 2}

    O(V + E) time, O(V) memory. Equals
    ``networkx.single_source_shortest_path_length``.
    """
    _check_source(neighbours, source)
    # BEGIN SOLUTION m2: a FIFO queue; set a node's distance (mark it seen) when it is first discovered
    hops = {source: 0}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for neighbour in neighbours[node]:
            if neighbour not in hops:
                hops[neighbour] = hops[node] + 1
                queue.append(neighbour)
    return hops
    # END SOLUTION


def _check_weights(edges: Mapping[Node, Iterable[tuple[Node, float]]]) -> None:
    for node, out in edges.items():
        for neighbour, weight in out:
            if not weight >= 0:  # also refuses NaN
                raise ValueError(
                    f"edge {node!r} -> {neighbour!r} has weight {weight}; Dijkstra "
                    "needs non-negative weights (use Bellman-Ford for negative ones)."
                )


def dijkstra(
    edges: Mapping[Node, Iterable[tuple[Node, float]]], source: Node
) -> tuple[dict, dict]:
    """Shortest distances from ``source`` over non-negative weighted edges.

    Args:
        edges: each node mapped to its ``(neighbour, weight)`` pairs; every
            neighbour is itself a key. Parallel edges are allowed.
        source: where to start.

    Returns:
        ``(distance, previous)``: ``distance[node]`` for every reachable node
        (``source`` at 0), and ``previous[node]``, the node before it on one
        shortest path (every reachable node but ``source``).

    Raises:
        ValueError: a negative or NaN weight, or a source that is not a node.

    >>> dijkstra({"a": [("b", 4.0), ("c", 1.0)], "c": [("b", 2.0)], "b": []}, "a")[0]
    {'a': 0.0, 'b': 3.0, 'c': 1.0}

    O((V + E) log V) time, O(V + E) memory; each reachable node's edges are
    read once. Equals ``networkx.single_source_dijkstra_path_length``.
    """
    _check_source(edges, source)
    _check_weights(edges)
    # BEGIN SOLUTION m2: a min-heap of (distance, tie, node); skip stale entries of settled nodes; relax each edge of a newly settled node
    distance = {source: 0.0}
    previous: dict[Node, Node] = {}
    settled: set[Node] = set()
    tie = itertools.count()  # nodes themselves are never compared
    heap = [(0.0, next(tie), source)]
    while heap:
        d, _, node = heapq.heappop(heap)
        if node in settled:
            continue  # a stale entry: the node was settled by a shorter one
        settled.add(node)
        for neighbour, weight in edges[node]:
            candidate = d + weight
            if candidate < distance.get(neighbour, math.inf):
                distance[neighbour] = candidate
                previous[neighbour] = node
                heapq.heappush(heap, (candidate, next(tie), neighbour))
    return distance, previous
    # END SOLUTION


def dijkstra_dense(
    edges: Mapping[Node, Iterable[tuple[Node, float]]], source: Node
) -> tuple[dict, dict]:
    """Dijkstra without a heap (given): scan every unsettled node for the
    closest, O(V^2 + E). Same answer as ``dijkstra``."""
    _check_source(edges, source)
    _check_weights(edges)
    distance = dict.fromkeys(edges, math.inf)
    distance[source] = 0.0
    previous: dict[Node, Node] = {}
    unsettled = set(edges)
    while unsettled:
        node = min(unsettled, key=distance.__getitem__)  # the O(V) scan
        d = distance[node]
        if d == math.inf:
            break  # the rest is unreachable
        unsettled.remove(node)
        for neighbour, weight in edges[node]:
            candidate = d + weight
            if candidate < distance[neighbour]:
                distance[neighbour] = candidate
                previous[neighbour] = node
    return {n: d for n, d in distance.items() if d < math.inf}, previous


def path_to(previous: Mapping[Node, Node], source: Node, target: Node) -> list[Node]:
    """The path ``[source, ..., target]`` that ``previous`` records.

    Raises:
        ValueError: ``target`` was not reached from ``source``.
    """
    path = [target]
    while path[-1] != source:
        if path[-1] not in previous:
            raise ValueError(f"{target!r} is not reachable from {source!r}.")
        path.append(previous[path[-1]])
    return path[::-1]

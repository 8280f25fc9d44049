"""m2 — Kahn's order, BFS, Dijkstra and union-find against networkx on random
graphs, the named cycle checked edge by edge, and the work each search does
counted (every node's edges read once).
"""

from __future__ import annotations

import doctest
import itertools
import math
from collections import Counter
from collections.abc import Mapping

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labs.algorithms import paths, toposort, union_find
from labs.algorithms.answers import PIPELINE
from labs.algorithms.paths import bfs_distances, dijkstra, dijkstra_dense, path_to
from labs.algorithms.toposort import CycleError, topological_order
from labs.algorithms.union_find import UnionFind, merge_accounts


class CountingGraph(Mapping):
    """A graph that counts how often each node's edge list is read."""

    def __init__(self, graph):
        self.graph, self.reads = graph, Counter()

    def __getitem__(self, node):
        self.reads[node] += 1
        return self.graph[node]

    def __iter__(self):
        return iter(self.graph)

    def __len__(self):
        return len(self.graph)

    def __contains__(self, node):  # membership and validation are not reads
        return node in self.graph

    def items(self):
        return self.graph.items()


def _digraph(steps):
    graph = nx.DiGraph()
    graph.add_nodes_from(steps)
    graph.add_edges_from((p, s) for s, needed in steps.items() for p in needed)
    return graph


def _assert_is_a_cycle(cycle, steps):
    assert len(cycle) >= 2 and cycle[0] == cycle[-1], cycle
    assert len(set(cycle[:-1])) == len(cycle) - 1, f"{cycle} repeats a step"
    for step, needed in itertools.pairwise(cycle):
        assert needed in steps[step], f"{cycle}: {step!r} does not need {needed!r}"


# --- topological order ---------------------------------------------------------------
@st.composite
def dags(draw, max_steps=12):
    n = draw(st.integers(0, max_steps))
    labels = draw(st.permutations(range(n)))  # so the order is not just 0..n-1
    steps = {labels[i]: [] for i in range(n)}
    for i in range(n):
        for j in draw(st.lists(st.integers(0, max(i - 1, 0)), max_size=3)):
            if j < i:
                steps[labels[i]].append(labels[j])
    return steps


@given(steps=dags())
def test_order_is_networkx_lexicographic_order(steps):
    assert topological_order(steps) == list(
        nx.lexicographical_topological_sort(_digraph(steps))
    )


@given(
    steps=st.dictionaries(
        st.integers(0, 7), st.lists(st.integers(0, 7), max_size=3), max_size=8
    ).map(lambda d: {s: [p for p in ps if p in d] for s, ps in d.items()})
)
def test_a_cycle_is_named_whenever_there_is_one(steps):
    if nx.is_directed_acyclic_graph(_digraph(steps)):
        assert topological_order(steps) == list(
            nx.lexicographical_topological_sort(_digraph(steps))
        )
        return
    with pytest.raises(CycleError) as error:
        topological_order(steps)
    _assert_is_a_cycle(error.value.cycle, steps)


def test_the_cycle_leaves_out_steps_that_only_wait_on_it():
    steps = {"a": ["b"], "b": ["c"], "c": ["a"], "report": ["a"], "zz": ["report"]}
    steps["start"] = []
    with pytest.raises(CycleError, match="needs") as error:
        topological_order(steps)
    assert set(error.value.cycle) == {"a", "b", "c"}
    _assert_is_a_cycle(error.value.cycle, steps)
    with pytest.raises(CycleError) as error:
        topological_order({"self": ["self"]})
    assert error.value.cycle == ["self", "self"]


def test_the_kits_pipeline_and_prerequisites_listed_twice():
    order = topological_order(PIPELINE)
    assert order == list(nx.lexicographical_topological_sort(_digraph(PIPELINE)))
    assert order[0] == "generate_shopstream" and order[-1] == "load_test"
    assert topological_order({"b": ["a", "a"], "a": []}) == ["a", "b"]
    with pytest.raises(ValueError, match="not a step"):
        topological_order({"b": ["missing"]})


# --- BFS -------------------------------------------------------------------------------
GRAPHS = st.dictionaries(
    st.integers(0, 14), st.lists(st.integers(0, 14), max_size=4), min_size=1
).map(lambda d: {n: [m for m in ms if m in d] for n, ms in d.items()})


@given(graph=GRAPHS, data=st.data())
def test_bfs_equals_networkx_and_reads_each_node_once(graph, data):
    source = data.draw(st.sampled_from(sorted(graph)))
    counting = CountingGraph(graph)
    hops = bfs_distances(counting, source)
    directed = nx.DiGraph()
    directed.add_nodes_from(graph)
    directed.add_edges_from((a, b) for a, bs in graph.items() for b in bs)
    assert hops == nx.single_source_shortest_path_length(directed, source)
    assert set(counting.reads) == set(hops), "read a node BFS never reached"
    assert max(counting.reads.values()) == 1, f"edge lists read again: {counting.reads}"


def test_bfs_on_the_coview_graph(shop):
    graph = nx.Graph(shop.coview_neighbours)
    graph.add_nodes_from(shop.coview_neighbours)
    for source in list(shop.coview)[:200:40]:
        assert bfs_distances(
            shop.coview_neighbours, source
        ) == nx.single_source_shortest_path_length(graph, source)


# --- Dijkstra ----------------------------------------------------------------------------
WEIGHTED = st.dictionaries(
    st.integers(0, 11),
    st.lists(
        st.tuples(
            st.integers(0, 11), st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 7.5])
        ),
        max_size=4,
    ),
    min_size=1,
).map(lambda d: {n: [(m, w) for m, w in es if m in d] for n, es in d.items()})


def _nx_weighted(edges):
    graph = nx.DiGraph()
    graph.add_nodes_from(edges)
    for a, out in edges.items():
        for b, w in out:  # parallel edges: the cheapest one counts
            if not graph.has_edge(a, b) or graph[a][b]["weight"] > w:
                graph.add_edge(a, b, weight=w)
    return graph


@given(edges=WEIGHTED, data=st.data())
def test_dijkstra_equals_networkx_and_reads_each_node_once(edges, data):
    source = data.draw(st.sampled_from(sorted(edges)))
    counting = CountingGraph(edges)
    distance, previous = dijkstra(counting, source)
    graph = _nx_weighted(edges)
    expected = nx.single_source_dijkstra_path_length(graph, source)
    assert distance.keys() == expected.keys()
    for node, d in expected.items():
        assert distance[node] == pytest.approx(d), node
    assert max(counting.reads.values()) == 1, (
        f"a node's edges were read again (a stale heap entry?): {counting.reads}"
    )
    for node in distance:
        route = path_to(previous, source, node)
        cost = sum(graph[a][b]["weight"] for a, b in itertools.pairwise(route))
        assert cost == pytest.approx(distance[node]), route
    assert dijkstra_dense(edges, source)[0] == pytest.approx(distance)


def test_dijkstra_refuses_negative_weights_and_finds_the_likeliest_chain(shop):
    with pytest.raises(ValueError, match="non-negative"):
        dijkstra({"a": [("b", -1.0)], "b": []}, "a")
    graph = nx.DiGraph()
    for a, out in shop.coview_edges.items():
        graph.add_node(a)
        graph.add_edges_from((a, b, {"weight": w}) for b, w in out)
    source = max(shop.coview, key=lambda a: (len(shop.coview[a]), a))
    distance, previous = dijkstra(shop.coview_edges, source)
    expected = nx.single_source_dijkstra_path_length(graph, source)
    assert distance == pytest.approx(expected)
    far = max(distance, key=distance.get)
    chain = path_to(previous, source, far)
    probability = math.prod(
        shop.coview[a][b] / sum(shop.coview[a].values())
        for a, b in itertools.pairwise(chain)
    )
    assert probability == pytest.approx(math.exp(-distance[far]))


# --- union-find ----------------------------------------------------------------------------
def _walk(sets, element):
    """(root, height) by following parents, without find's compression."""
    steps = 0
    while sets.parent[element] != element:
        element, steps = sets.parent[element], steps + 1
    return element, steps


@given(
    n=st.integers(1, 24),
    pairs=st.lists(st.tuples(st.integers(0, 23), st.integers(0, 23)), max_size=40),
)
def test_union_find_equals_networkx_components(n, pairs):
    sets, graph = UnionFind(range(n)), nx.Graph()
    graph.add_nodes_from(range(n))
    for a, b in pairs:
        a, b = a % n, b % n
        apart = not nx.has_path(graph, a, b)
        assert sets.union(a, b) == apart
        graph.add_edge(a, b)
    expected = sorted((sorted(c) for c in nx.connected_components(graph)), key=min)
    assert sets.groups() == expected
    for group in expected:
        assert len({sets.find(x) for x in group}) == 1


@given(pairs=st.lists(st.tuples(st.integers(0, 31), st.integers(0, 31)), max_size=60))
def test_union_by_rank_keeps_trees_logarithmic(pairs):
    sets = UnionFind(range(32))
    # the tail joins singletons to a big set one by one: the case rank is for
    for a, b in [*pairs, *((i, 0) for i in range(1, 32))]:
        sets.union(a, b)
        walks = {x: _walk(sets, x) for x in range(32)}  # no find: it would flatten
        sizes = Counter(root for root, _ in walks.values())
        for x, (root, height) in walks.items():
            bound = math.floor(math.log2(sizes[root]))
            assert height <= bound, f"{x} is {height} deep in a set of {sizes[root]}"


def test_find_points_the_whole_path_at_the_root():
    sets = UnionFind(range(8))
    # build a chain by hand (as unions by rank never would) and compress it
    for child in range(1, 8):
        sets.parent[child] = child - 1
    assert sets.find(7) == 0
    assert all(sets.parent[x] == 0 for x in range(8)), sets.parent
    with pytest.raises(KeyError, match="never added"):
        sets.find(99)


def test_accounts_sharing_devices_equal_networkx_components(shop):
    people = merge_accounts(shop.devices)
    graph = nx.Graph()
    graph.add_nodes_from(("account", a) for a in shop.devices)
    graph.add_edges_from(
        (("account", a), ("device", d)) for a, ds in shop.devices.items() for d in ds
    )
    expected = sorted(
        (
            sorted(a for kind, a in component if kind == "account")
            for component in nx.connected_components(graph)
        ),
        key=min,
    )
    assert people == expected
    assert len(people) < len(shop.devices)  # some accounts do share
    assert merge_accounts({1: [], 2: ["x"], 3: ["x"]}) == [[1], [2, 3]]


def test_docstring_examples_hold():
    for module in (toposort, paths, union_find):
        failed, _ = doctest.testmod(module)
        assert failed == 0, f"{module.__name__}: {failed} docstring examples fail"

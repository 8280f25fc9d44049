"""m3 — the hash ring against a brute-force nearest-point search, and the
moved-key and load-spread properties on ShopStream's keys.

The oracle scans every virtual-node point for the smallest clockwise
distance ``(point − position) mod 2^64`` (ties to the smaller node name):
no sorting, no binary search.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labs.dsa_for_ml import consistent_hash
from labs.dsa_for_ml.consistent_hash import (
    RING_SIZE,
    HashRing,
    load_spread,
    modulo_node,
    stable_hash,
    vnode_points,
)


def test_an_empty_ring_says_so():
    ring = HashRing(["only"], vnodes=3)
    assert ring.node_for("anything") == "only"
    ring.remove_node("only")
    with pytest.raises(LookupError, match="no nodes"):
        ring.node_for("anything")


def brute_force_owner(key: str, nodes: list[str], vnodes: int) -> str:
    position = stable_hash(key)
    best = None
    for node in nodes:
        for point in vnode_points(node, vnodes):
            candidate = ((point - position) % RING_SIZE, node)
            if best is None or candidate < best:
                best = candidate
    assert best is not None
    return best[1]


NODE_NAMES = st.lists(
    st.text("abcxyz0123", min_size=1, max_size=4), min_size=1, max_size=6, unique=True
)
KEYS = st.lists(st.text(max_size=8), min_size=1, max_size=30)


@given(nodes=NODE_NAMES, vnodes=st.integers(1, 12), keys=KEYS)
def test_owner_is_the_first_point_clockwise(nodes, vnodes, keys):
    ring = HashRing(nodes, vnodes=vnodes)
    for key in keys:
        assert ring.node_for(key) == brute_force_owner(key, nodes, vnodes)


def test_a_key_exactly_on_a_point_belongs_to_that_point():
    """A vnode's own label hashes to its point: "at or after" includes it."""
    nodes = ["cache-0", "cache-1", "cache-2"]
    ring = HashRing(nodes, vnodes=20)
    for node in nodes:
        for i in range(20):
            assert ring.node_for(f"{node}#{i}") == node


@given(
    nodes=st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True),
    order=st.randoms(use_true_random=False),
    keys=KEYS,
)
def test_colliding_points_go_to_the_smaller_node_name(nodes, order, keys):
    """Squeeze the ring to 8 positions so points collide, in any join order.

    The oracle is the brute force over the same squeezed points: ties in
    clockwise distance go to the smaller name.
    """
    ring_size = 8

    def squeezed(node, vnodes):
        return [stable_hash(f"{node}#{i}") % ring_size for i in range(vnodes)]

    def position(key):
        return stable_hash(key) % ring_size

    joined = list(nodes)
    order.shuffle(joined)
    with pytest.MonkeyPatch.context() as patch:  # undone after every example
        patch.setattr(consistent_hash, "vnode_points", squeezed)
        patch.setattr(consistent_hash, "stable_hash", position)
        ring = HashRing(joined, vnodes=3)
        owners = [ring.node_for(key) for key in keys]
    for key, owner in zip(keys, owners, strict=True):
        best = min(
            ((point - position(key)) % ring_size, node)
            for node in nodes
            for point in squeezed(node, 3)
        )
        assert owner == best[1]


@given(
    nodes=NODE_NAMES,
    changes=st.lists(st.tuples(st.booleans(), st.text("pqr", min_size=1, max_size=2))),
    keys=KEYS,
)
def test_joins_and_leaves_give_the_ring_a_fresh_build_would(nodes, changes, keys):
    ring = HashRing(nodes, vnodes=5)
    live = list(nodes)
    for join, node in changes:
        if join and node not in live:
            ring.add_node(node)
            live.append(node)
        elif not join and node in live and len(live) > 1:
            ring.remove_node(node)
            live.remove(node)
    assert ring.nodes == sorted(live)
    fresh = HashRing(live, vnodes=5)
    for key in keys:
        assert ring.node_for(key) == fresh.node_for(key)
        assert ring.node_for(key) == brute_force_owner(key, live, 5)


@pytest.fixture(scope="module")
def user_keys(tiny_events) -> list[str]:
    """The online store's user and item keys, as a sharded cache would hold them."""
    users = sorted(set(tiny_events["user_id"].tolist()))
    items = sorted(set(tiny_events["item_id"].tolist()))
    return [f"user_activity:{u}" for u in users] + [f"item_stats:{i}" for i in items]


def test_a_join_moves_about_one_over_n_and_only_to_the_new_node(user_keys):
    nodes = [f"cache-{i}" for i in range(4)]
    ring = HashRing(nodes, vnodes=200)
    before = ring.assign(user_keys)
    ring.add_node("cache-4")
    after = ring.assign(user_keys)
    moved = [k for k in user_keys if before[k] != after[k]]
    assert all(after[k] == "cache-4" for k in moved)
    share = len(moved) / len(user_keys)
    assert share == pytest.approx(1 / 5, abs=0.06)
    # Modulo hashing moves most keys for the same change.
    modulo_moved = sum(
        modulo_node(k, nodes) != modulo_node(k, [*nodes, "cache-4"]) for k in user_keys
    ) / len(user_keys)
    assert modulo_moved > 0.7 > 0.3 > share


def test_a_leave_moves_exactly_the_keys_of_the_node_that_left(user_keys):
    ring = HashRing([f"cache-{i}" for i in range(6)], vnodes=100)
    before = ring.assign(user_keys)
    ring.remove_node("cache-2")
    after = ring.assign(user_keys)
    moved = {k for k in user_keys if before[k] != after[k]}
    assert moved == {k for k in user_keys if before[k] == "cache-2"}
    assert "cache-2" not in set(after.values())
    assert len(moved) / len(user_keys) == pytest.approx(1 / 6, abs=0.07)
    with pytest.raises(ValueError, match="not on the ring"):
        ring.remove_node("cache-2")


def test_virtual_nodes_even_out_the_load(user_keys):
    nodes = [f"cache-{i}" for i in range(10)]
    spread = {}
    for vnodes in (1, 256):
        ring = HashRing(nodes, vnodes=vnodes)
        counts = Counter(ring.assign(user_keys).values())
        spread[vnodes] = load_spread([counts[n] for n in nodes])
    # One point per node: arcs roughly exponential (cv ~ 1). 256 points: cv ~ 1/16,
    # plus the sampling noise of ~1,500 keys over 10 nodes (~0.08).
    assert spread[1]["cv"] > 0.4
    assert spread[256]["cv"] < 0.2
    assert spread[256]["max_over_mean"] < 1.4 < spread[1]["max_over_mean"]

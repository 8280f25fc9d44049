"""m1 — the LRU cache against a brute-force list, and in front of the online store.

The oracle is ``ListLRU`` below: a plain Python list of ``[key, value]``
pairs, most recent last, searched linearly. It shares nothing with the
linked-list implementation but the rules.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.dsa_for_ml.lru import LRUCache, replay_hit_rate
from labs.dsa_for_ml.online_cache import CachedOnlineStore, with_cache
from labs.feature_store import FeatureStore, MemoryOnlineStore, OnlineBatch, OnlineRead


class ListLRU:
    """Brute-force LRU: a list, most recently used at the end."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.entries: list[list] = []
        self.hits = self.misses = self.evictions = 0

    def _find(self, key):
        for i, entry in enumerate(self.entries):
            if entry[0] == key:
                return i
        return None

    def get(self, key, default=None):
        i = self._find(key)
        if i is None:
            self.misses += 1
            return default
        self.hits += 1
        entry = self.entries.pop(i)
        self.entries.append(entry)
        return entry[1]

    def put(self, key, value):
        i = self._find(key)
        if i is not None:
            self.entries.pop(i)
            self.entries.append([key, value])
            return None
        self.entries.append([key, value])
        if len(self.entries) > self.capacity:
            self.evictions += 1
            evicted = self.entries.pop(0)
            return evicted[0], evicted[1]
        return None

    def pop(self, key, default=None):
        i = self._find(key)
        return default if i is None else self.entries.pop(i)[1]

    def keys(self):
        return [entry[0] for entry in reversed(self.entries)]


def test_the_least_recently_used_entry_is_evicted():
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    assert cache.put("c", 3) == ("b", 2)
    assert cache.keys() == ["c", "a"]
    assert cache.get("b") is None
    assert cache.pop("a") == 1 and "a" not in cache
    with pytest.raises(KeyError):
        cache.pop("a")
    assert cache.stats.hit_rate == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="capacity"):
        LRUCache(0)


def test_a_put_of_an_existing_key_is_a_use():
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.put("a", 10) is None  # an update evicts nothing...
    assert cache.keys() == ["a", "b"]  # ...and makes "a" the most recent
    assert cache.put("c", 3) == ("b", 2)
    assert cache.peek("a") == 10 and len(cache) == 2
    assert cache.stats.evictions == 1


OPS = st.lists(
    st.tuples(
        st.sampled_from(["get", "put", "pop", "peek"]),
        st.integers(0, 6),
        st.integers(0, 99),
    ),
    min_size=10,
    max_size=80,
)


@settings(max_examples=150)  # cheap, and every op kind meets every other
@given(capacity=st.integers(1, 5), ops=OPS)
def test_random_operations_match_a_brute_force_list(capacity, ops):
    cache: LRUCache[int, int] = LRUCache(capacity)
    oracle = ListLRU(capacity)
    for op, key, value in ops:
        if op == "get":
            assert cache.get(key, -1) == oracle.get(key, -1)
        elif op == "put":
            assert cache.put(key, value) == oracle.put(key, value)
        elif op == "pop":
            assert cache.pop(key, -1) == oracle.pop(key, -1)
        else:  # peek changes nothing
            i = oracle._find(key)
            assert cache.peek(key, -1) == (-1 if i is None else oracle.entries[i][1])
        assert cache.keys() == oracle.keys()
        assert len(cache) == len(oracle.entries) <= capacity
    assert (cache.stats.hits, cache.stats.misses, cache.stats.evictions) == (
        oracle.hits,
        oracle.misses,
        oracle.evictions,
    )


def _ns_per_op(capacity: int, ops: int = 20_000) -> float:
    """Median time per get/put pair on a full cache of ``capacity`` entries."""
    rng = np.random.default_rng(0)
    cache: LRUCache[int, int] = LRUCache(capacity)
    for key in range(capacity):
        cache.put(key, key)
    hot = rng.integers(0, capacity, ops).tolist()  # present keys, anywhere in the list
    fresh = range(capacity, capacity + ops)  # new keys: each one evicts
    samples = []
    for _ in range(3):
        start = time.perf_counter()
        for h, f in zip(hot, fresh, strict=True):
            cache.get(h)
            cache.put(f, f)
        samples.append((time.perf_counter() - start) / ops)
        fresh = range(fresh.stop, fresh.stop + ops)
    return float(np.median(samples))


def test_operations_do_not_slow_down_with_capacity():
    small, large = _ns_per_op(100), _ns_per_op(50_000)
    # O(1): the same cost per operation at 500x the size. A list scan or a
    # list.pop(0) costs hundreds of times more at 50,000 entries; the margin
    # of 8x only absorbs noise and cache misses.
    assert large < 8 * small, f"{large * 1e9:.0f} ns vs {small * 1e9:.0f} ns per op"


def test_hit_rate_on_shopstream_items_matches_brute_force(tiny_log):
    keys = tiny_log.item_keys[:4_000]
    previous = -1.0
    for capacity in (10, 50, 200):
        oracle = ListLRU(capacity)
        for key in keys:
            if oracle.get(key) is None:
                oracle.put(key, True)
        rate = replay_hit_rate(keys, capacity)
        assert rate == oracle.hits / len(keys)
        # LRU is a stack algorithm: a larger cache never hits less.
        assert rate >= previous
        previous = rate
    assert previous > 0.3  # the item stream is skewed: 200 of 1,000 items hit often


# --- the cache in front of the online store --------------------------------------


class CountingStore(MemoryOnlineStore):
    """A memory online store that records every read_batch call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def read_batch(self, view, keys, features) -> OnlineRead:
        self.calls.append(list(keys))
        return super().read_batch(view, keys, features)


def _batch(keys: Sequence[str], event_us: int, value: float) -> OnlineBatch:
    n = len(keys)
    return OnlineBatch(
        list(keys),
        np.full(n, event_us),
        np.full(n, event_us),
        np.full((n, 2), value),
        ("f", "g"),
    )


def test_misses_go_to_the_backend_in_one_read_and_hits_not_at_all():
    backend = CountingStore()
    backend.write_batch("v", _batch(["a", "b", "c", "d"], 10, 1.0))
    cached = CachedOnlineStore(backend, capacity=10)
    first = cached.read_batch("v", ["a", "b", "a"], ["f", "g"])
    assert backend.calls == [["a", "b"]]  # distinct misses, one call
    second = cached.read_batch("v", ["b", "c", "zz", "d", "a"], ["f", "g"])
    assert backend.calls[-1] == ["c", "zz", "d"]  # "zz" is absent: read once...
    cached.read_batch("v", ["zz", "a", "c"], ["f", "g"])
    assert len(backend.calls) == 2  # ...and then cached as absent
    assert (cached.hits, cached.misses, cached.backend_reads) == (2 + 3, 2 + 3, 2)
    truth = backend.read_batch("v", ["b", "c", "zz", "d", "a"], ["f", "g"])
    np.testing.assert_array_equal(second.found, truth.found)
    np.testing.assert_array_equal(second.event_us, truth.event_us)
    np.testing.assert_array_equal(second.values, truth.values)
    assert first.values.shape == (3, 2) and first.found.all()


def test_writes_invalidate_and_max_age_bounds_staleness():
    backend = MemoryOnlineStore()
    backend.write_batch("v", _batch(["a", "b"], 10, 1.0))
    now = [0.0]
    cached = CachedOnlineStore(backend, capacity=10, max_age_s=60, clock=lambda: now[0])
    assert cached.read_batch("v", ["a", "b"], ["f"]).values.tolist() == [[1.0], [1.0]]
    cached.write_batch("v", _batch(["a"], 20, 2.0))  # through the cache
    backend.write_batch("v", _batch(["b"], 20, 3.0))  # behind its back
    now[0] = 30.0
    assert cached.read_batch("v", ["a", "b"], ["f"]).values.tolist() == [[2.0], [1.0]]
    now[0] = 60.0  # "b" is exactly max_age_s old: not older, still served
    assert cached.read_batch("v", ["a", "b"], ["f"]).values.tolist() == [[2.0], [1.0]]
    assert cached.stale == 0
    now[0] = 61.0  # "b" was cached at 0: too old now
    assert cached.read_batch("v", ["a", "b"], ["f"]).values.tolist() == [[2.0], [3.0]]
    assert cached.stale == 1


def test_a_cached_store_serves_exactly_what_the_store_serves(tiny_store, tiny_log):
    features = tiny_store.feature_names()
    cached = with_cache(tiny_store, capacity=100)
    log = tiny_log.head(400)
    for user, items in zip(log.user_id.tolist(), log.item_id.tolist(), strict=True):
        request = {"user_id": [user] * len(items), "item_id": items}
        expected = tiny_store.get_online_features(request, features).to_frame()
        got = cached.get_online_features(request, features).to_frame()
        pd.testing.assert_frame_equal(got, expected)
    online = cached.online
    assert isinstance(online, CachedOnlineStore)
    categories = tiny_store.item_categories.lookup
    distinct = sum(  # one lookup per distinct key of each view in each request
        1 + len(set(items)) + len(set(categories(items).tolist()))
        for items in log.item_id.tolist()
    )
    assert online.hits + online.misses == distinct
    views = len(tiny_store.views)
    assert online.backend_reads <= views * len(
        log
    )  # at most one read per view per request
    assert online.hit_rate > 0.3


def test_single_key_hits_equal_an_lru_replay(tiny_store, tiny_log):
    keys = tiny_log.user_keys[:1_500]
    cached = CachedOnlineStore(tiny_store.online, capacity=40)
    for key in keys:
        cached.read_batch("user_activity", [key], ["clicks_1h"])
    oracle = ListLRU(40)
    for key in keys:
        if oracle.get(key) is None:
            oracle.put(key, True)
    assert cached.hits == oracle.hits
    assert cached.backend_reads == oracle.misses
    assert isinstance(with_cache(tiny_store, 5), FeatureStore)

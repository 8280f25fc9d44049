"""m1 — an LRU cache with O(1) get and put, and the hit-rate counters to judge it.

    from labs.dsa_for_ml.lru import LRUCache
    cache = LRUCache(capacity=1_000)
    cache.put("user:42", row)
    cache.get("user:42")          # the row; now the most recently used entry
    cache.stats.hit_rate          # hits / (hits + misses)

The classic design: a hash map from key to node, and a doubly linked list of
the nodes in recency order. The map finds a node in O(1); the list moves it
to the front, or drops the node at the back (the least recently used) in
O(1), because a node knows both neighbours. Two sentinel nodes (``head``
before the most recent entry, ``tail`` after the least recent one) mean no
pointer is ever ``None`` and no operation needs a special case for an empty
or one-entry list.

What counts: ``get`` of a present key is a hit, of an absent key a miss;
``put`` of a new key into a full cache evicts the least recently used entry
(an eviction). ``peek`` and ``in`` look without touching recency or counters,
so measuring a cache never changes what it does.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING: Any = object()  # a default no caller can pass


@dataclass
class CacheStats:
    """Counters of one cache since it was made (or since :meth:`reset`)."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float:
        """``hits / (hits + misses)``; 0.0 before the first lookup."""
        return self.hits / self.lookups if self.lookups else 0.0

    def reset(self) -> None:
        self.hits = self.misses = self.evictions = 0


class _Node:
    """One entry of the recency list."""

    __slots__ = ("key", "next", "prev", "value")

    def __init__(self, key: Any = None, value: Any = None):
        self.key = key
        self.value = value
        self.prev: _Node = self
        self.next: _Node = self


class LRUCache(Generic[K, V]):
    """A bounded map that evicts the least recently used entry; O(1) per operation.

    Args:
        capacity: the most entries held at once (at least 1).

    The list runs ``head <-> most recent <-> ... <-> least recent <-> tail``.
    """

    def __init__(self, capacity: int):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(
                f"an LRU cache needs an integer capacity of at least 1, got "
                f"{capacity!r}; to run without a cache, do not wrap the store."
            )
        self.capacity = capacity
        self.stats = CacheStats()
        self._map: dict[K, _Node] = {}
        self._head = _Node()  # sentinel before the most recently used node
        self._tail = _Node()  # sentinel after the least recently used node
        self._head.next, self._tail.prev = self._tail, self._head

    # --- the recency list --------------------------------------------------------
    def _unlink(self, node: _Node) -> None:
        """Take ``node`` out of the list (its neighbours now point at each other)."""
        # BEGIN SOLUTION m1: join the node's two neighbours to each other
        node.prev.next = node.next
        node.next.prev = node.prev
        # END SOLUTION

    def _push_front(self, node: _Node) -> None:
        """Insert ``node`` right after ``head``: it becomes the most recently used."""
        # BEGIN SOLUTION m1: link the node between head and the current first node
        first = self._head.next
        node.prev, node.next = self._head, first
        first.prev = node
        self._head.next = node
        # END SOLUTION

    # --- the map interface ----------------------------------------------------------
    def get(self, key: K, default: Any = None) -> Any:
        """The value of ``key`` (now the most recently used), or ``default``.

        Counts a hit or a miss.
        """
        # BEGIN SOLUTION m1: look the node up; on a hit move it to the front, count hit or miss
        node = self._map.get(key)
        if node is None:
            self.stats.misses += 1
            return default
        self.stats.hits += 1
        self._unlink(node)
        self._push_front(node)
        return node.value
        # END SOLUTION

    def put(self, key: K, value: V) -> tuple[K, V] | None:
        """Insert or update ``key`` as the most recently used entry.

        Returns:
            The ``(key, value)`` evicted to make room, or ``None``.
        """
        # BEGIN SOLUTION m1: update in place or insert at the front; evict the back node when over capacity
        node = self._map.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
            self._push_front(node)
            return None
        node = _Node(key, value)
        self._map[key] = node
        self._push_front(node)
        if len(self._map) <= self.capacity:
            return None
        lru = self._tail.prev
        self._unlink(lru)
        del self._map[lru.key]
        self.stats.evictions += 1
        return lru.key, lru.value
        # END SOLUTION

    def pop(self, key: K, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value (``default``, or KeyError, if absent).

        Not a lookup: the counters do not move. Use it to invalidate an entry.
        """
        # BEGIN SOLUTION m1: drop the key from the map and unlink its node
        node = self._map.pop(key, None)
        if node is not None:
            self._unlink(node)
            return node.value
        # END SOLUTION
        if default is _MISSING:
            raise KeyError(key)
        return default

    def peek(self, key: K, default: Any = None) -> Any:
        """The value of ``key`` without touching recency or the counters."""
        node = self._map.get(key)
        return default if node is None else node.value

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def __len__(self) -> int:
        return len(self._map)

    def keys(self) -> list[K]:
        """Keys from the most to the least recently used (walks the list)."""
        out = []
        node = self._head.next
        while node is not self._tail:
            out.append(node.key)
            node = node.next
        return out

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())

    def clear(self) -> None:
        """Drop every entry (the counters stay)."""
        self._map.clear()
        self._head.next, self._tail.prev = self._tail, self._head

    def __repr__(self) -> str:
        return (
            f"LRUCache(capacity={self.capacity}, size={len(self)}, "
            f"hit_rate={self.stats.hit_rate:.3f})"
        )


def replay_hit_rate(keys: Iterable[Hashable], capacity: int) -> float:
    """The hit rate of a read-through LRU cache over an access sequence.

    Each access is a ``get``; a miss is followed by a ``put`` (the value is
    irrelevant here), exactly what a read-through cache does on a miss.
    """
    cache: LRUCache[Hashable, bool] = LRUCache(capacity)
    get, put = cache.get, cache.put
    for key in keys:
        if get(key) is None:
            put(key, True)
    return cache.stats.hit_rate

"""m2 — the k largest items of a stream with a size-k min-heap, O(n log k).

    from labs.dsa_for_ml.topk import TopK, top_k, heavy_hitters
    top_k(scores, 10)                              # the 10 largest, largest first
    best = TopK(10, key=lambda row: row.score)     # or item by item
    for row in stream: best.push(row)
    best.items()
    heavy_hitters(item_ids, 20)                    # [(item, count)], most frequent first

The heap keeps the k best items seen so far with the *worst* of them on top
(``heap[0]``), so deciding whether a new item belongs costs one comparison,
and replacing the worst one ``O(log k)``. Memory stays ``O(k)`` however long
the stream: the "trending items this hour" board of a shop, or the top
requests of a log that does not fit in memory.

**Order and ties.** Results come largest first; among equal keys, the item
seen earlier in the stream ranks higher. That is exactly
``sorted(stream, key=key, reverse=True)[:k]`` (Python's sort is stable) and
``heapq.nlargest(k, stream, key=key)``, the tests' oracles, which is why the
exercise may use the heap primitives (``heapq.heappush``, ``heapq.heapreplace``,
``heapq.heappop``) but not ``heapq.nlargest`` or a sort of the whole stream.
Each heap entry is ``(key, -sequence, item)``: the sequence number breaks
ties (a later item is "smaller") and the items themselves are never compared.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
H = TypeVar("H", bound=Hashable)


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}.")
    return k


class TopK(Generic[T]):
    """The ``k`` items with the largest ``key`` among those pushed so far.

    Args:
        k: how many to keep (0 keeps nothing).
        key: the score of an item (the item itself when omitted).
    """

    def __init__(self, k: int, key: Callable[[T], Any] | None = None):
        self.k = _check_k(k)
        self.key: Callable[[T], Any] = key if key is not None else _identity
        self.seen = 0  # items pushed, which also numbers them
        self._heap: list[
            tuple[Any, int, T]
        ] = []  # (key, -sequence, item); worst on top

    def push(self, item: T) -> None:
        """Offer one item: kept if it is among the ``k`` best so far."""
        score = self.key(item)
        sequence = self.seen
        self.seen += 1
        # BEGIN SOLUTION m2: keep a size-k min-heap of (key, -sequence, item); replace the top when the new entry is larger
        heap = self._heap
        if len(heap) < self.k:
            heapq.heappush(heap, (score, -sequence, item))
        elif self.k and score > heap[0][0]:  # an equal score loses: it came later
            heapq.heapreplace(heap, (score, -sequence, item))
        # END SOLUTION

    def items(self) -> list[T]:
        """The kept items, largest key first (earlier first among equal keys)."""
        # BEGIN SOLUTION m2: order the heap's entries from best to worst without disturbing the heap
        ordered = sorted(self._heap, reverse=True)  # k entries, not the stream
        return [item for _, _, item in ordered]
        # END SOLUTION

    def __len__(self) -> int:
        """How many items are held (never more than ``k``)."""
        return len(self._heap)


def _identity(item: Any) -> Any:
    return item


def top_k(items: Iterable[T], k: int, key: Callable[[T], Any] | None = None) -> list[T]:
    """The ``k`` largest of ``items``, largest first; same as ``heapq.nlargest``.

    O(n log k) time, O(k) memory: ``items`` may be a generator of any length.
    """
    best: TopK[T] = TopK(k, key)
    for item in items:
        best.push(item)
    return best.items()


def heavy_hitters(stream: Iterable[H], k: int) -> list[tuple[H, int]]:
    """The ``k`` most frequent values of ``stream`` with their counts.

    A count map (one pass, O(distinct) memory), then the size-k heap over its
    entries: O(n + d log k). Most frequent first; among equal counts, the
    value first seen earlier ranks higher (``collections.Counter.most_common``
    orders ties the same way).
    """
    _check_k(k)
    # BEGIN SOLUTION m2: count each value in a dict, then keep the k largest counts with TopK
    counts: dict[H, int] = {}
    for value in stream:
        counts[value] = counts.get(value, 0) + 1
    return top_k(counts.items(), k, key=lambda pair: pair[1])
    # END SOLUTION

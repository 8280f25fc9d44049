"""m1 — quickselect: the k-th largest value without sorting, expected O(n).

    from labs.algorithms.selection import kth_largest, percentile
    kth_largest([5, 1, 9, 9, 3], 2)      # 9: the two largest are 9 and 9
    percentile(delays_ms, 99)            # p99 of ShopStream's ingestion delays

A p99 needs one value, yet sorting finds all n positions in O(n log n).
Quickselect partitions around a random pivot into *larger*, *equal* and
*smaller* values, then keeps only the side that holds the k-th: on average
each round keeps a constant fraction, so the work is n + n/2 + n/4 + ... =
O(n) expected (O(n^2) in the worst case, which a random pivot makes
vanishingly unlikely).

**Duplicates.** Latencies repeat (ShopStream's delays are whole milliseconds
often enough), so the three-way split matters: all values equal to the pivot
stay together, and the k-th largest may be the pivot itself even when it
occurs many times.

**Percentiles** here use the *nearest rank*: p-th percentile of n values is
the value of rank ``ceil(p/100 * n)`` in ascending order (numpy's
``method="inverted_cdf"``), always one of the data, never an interpolation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any


def kth_largest(values: Sequence[Any], k: int, rng: random.Random | None = None) -> Any:
    """The ``k``-th largest of ``values`` (``k = 1`` is the maximum).

    Counts duplicates: ``kth_largest([7, 7, 3], 2) == 7``. Does not modify
    ``values``. ``rng`` picks the pivots (a fixed seed when omitted, so a run
    is reproducible).

    >>> kth_largest([5, 1, 9, 9, 3], 1), kth_largest([5, 1, 9, 9, 3], 3)
    (9, 5)

    Expected O(n) time, O(n) extra memory. Equals
    ``sorted(values, reverse=True)[k - 1]`` and
    ``numpy.partition(values, n - k)[n - k]``.
    """
    n = len(values)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(
            f"k must be an integer from 1 to len(values) = {n}, got {k!r}."
        )
    rng = rng if rng is not None else random.Random(0)
    # BEGIN SOLUTION m1: split around a random pivot into larger / equal / smaller and keep the side holding the k-th
    pool = list(values)
    while True:
        pivot = pool[rng.randrange(len(pool))]
        larger = [v for v in pool if v > pivot]
        if k <= len(larger):
            pool = larger
            continue
        equal = sum(1 for v in pool if v == pivot)
        if k <= len(larger) + equal:
            return pivot
        k -= len(larger) + equal
        pool = [v for v in pool if v < pivot]
    # END SOLUTION


def rank_of_percentile(n: int, q: float) -> int:
    """The 1-based ascending rank of the nearest-rank ``q``-th percentile of ``n`` values."""
    if n < 1:
        raise ValueError("a percentile of zero values is undefined; pass some values.")
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], got {q}.")
    return max(1, math.ceil(q / 100 * n))


def percentile(
    values: Sequence[Any], q: float, rng: random.Random | None = None
) -> Any:
    """The nearest-rank ``q``-th percentile: ``numpy.percentile(values, q,
    method="inverted_cdf")``, found by quickselect in expected O(n)."""
    n = len(values)
    rank = rank_of_percentile(n, q)  # ascending rank
    return kth_largest(values, n - rank + 1, rng)

"""m1 — binary search: the bounds of a value in a sorted list, and on the answer.

    from labs.algorithms.search import lower_bound, upper_bound, smallest_passing
    lower_bound(times, t0)      # first index with times[i] >= t0
    upper_bound(times, t0)      # first index with times[i] >  t0
    upper_bound(times, t1) - lower_bound(times, t0)   # how many in [t0, t1]
    smallest_passing(1, 4096, lambda b: day_seconds(b) <= budget_s)

Binary search keeps an *interval that must hold the answer* and halves it. The
two bounds differ only on ties: ``lower_bound`` stops before a run of values
equal to the target, ``upper_bound`` after it, so ``upper - lower`` counts the
run. Both are ``bisect.bisect_left`` and ``bisect.bisect_right``, the tests'
oracles; write the loop yourself.

Binary search *on the answer* needs no list at all, only a yes/no question
that is monotone: false up to some value, true from there on. The smallest
batch size that scores a day of ShopStream impressions within a time budget
is such a value (bigger batches pay the per-call overhead fewer times), and
``smallest_passing`` finds it with about ``log2(hi - lo)`` questions, each of
which may be an expensive measurement.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any


def _check_sorted_bounds(values: Sequence[Any], lo: int, hi: int | None) -> int:
    n = len(values)
    hi = n if hi is None else hi
    if not 0 <= lo <= hi <= n:
        raise ValueError(
            f"need 0 <= lo <= hi <= len(values) = {n}, got lo={lo}, hi={hi}; "
            "leave hi out to search the whole list."
        )
    return hi


def lower_bound(
    values: Sequence[Any], target: Any, lo: int = 0, hi: int | None = None
) -> int:
    """The first index ``i`` in ``[lo, hi)`` with ``values[i] >= target``.

    ``values`` must be sorted ascending. When every value is smaller, the
    answer is ``hi`` (one past the end), which is where ``target`` would be
    inserted to keep the list sorted, before any equal values.

    >>> lower_bound([10, 20, 20, 20, 30], 20)
    1
    >>> lower_bound([10, 20, 30], 35), lower_bound([], 1)
    (3, 0)

    O(log n) comparisons, O(1) memory. Equals ``bisect.bisect_left``.
    """
    hi = _check_sorted_bounds(values, lo, hi)
    # BEGIN SOLUTION m1: halve [lo, hi) until it is empty, keeping values[lo-1] < target <= values[hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo
    # END SOLUTION


def upper_bound(
    values: Sequence[Any], target: Any, lo: int = 0, hi: int | None = None
) -> int:
    """The first index ``i`` in ``[lo, hi)`` with ``values[i] > target``.

    Where ``target`` would be inserted *after* any equal values, so
    ``upper_bound(v, x) - lower_bound(v, x)`` is how many times ``x`` occurs.

    >>> upper_bound([10, 20, 20, 20, 30], 20)
    4
    >>> upper_bound([10, 20, 30], 5)
    0

    O(log n) comparisons, O(1) memory. Equals ``bisect.bisect_right``.
    """
    hi = _check_sorted_bounds(values, lo, hi)
    # BEGIN SOLUTION m1: the same loop, but a value equal to target sends the search right
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] <= target:
            lo = mid + 1
        else:
            hi = mid
    return lo
    # END SOLUTION


def smallest_passing(lo: int, hi: int, passes: Callable[[int], bool]) -> int | None:
    """The smallest integer ``x`` in ``[lo, hi]`` with ``passes(x)``, or None.

    ``passes`` must be monotone on ``[lo, hi]``: once true, true for every
    larger ``x``. Each call may be costly (a measurement), so ask as few
    questions as possible: at most ``ceil(log2(hi - lo + 1)) + 1`` calls, and
    never one outside ``[lo, hi]``. When nothing in the range passes the
    answer is None, never a value that failed.

    >>> smallest_passing(1, 100, lambda b: b * b >= 50)
    8
    >>> smallest_passing(1, 5, lambda b: b > 9) is None
    True

    O(log(hi - lo)) calls of ``passes``.
    """
    if lo > hi:
        raise ValueError(f"empty range: lo={lo} > hi={hi}; pass lo <= hi.")
    # BEGIN SOLUTION m1: keep the answer inside [lo, hi + 1]; hi + 1 means "nothing passes"
    end = hi + 1  # a sentinel for "nothing passes", never asked
    hi = end
    while lo < hi:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid + 1
    return None if lo == end else lo
    # END SOLUTION


def max_calls(lo: int, hi: int) -> int:
    """The most calls ``smallest_passing(lo, hi, ...)`` may make."""
    return math.ceil(math.log2(hi - lo + 1)) + 1


def count_between(values: Sequence[Any], first: Any, last: Any) -> int:
    """How many of the sorted ``values`` lie in the closed range ``[first, last]``."""
    return max(0, upper_bound(values, last) - lower_bound(values, first))


def smallest_batch_within(
    rows: int, budget_s: float, overhead_s: float, per_row_s: float, max_batch: int
) -> int | None:
    """The smallest batch size that scores ``rows`` rows within ``budget_s``.

    Scoring in batches of ``b`` makes ``ceil(rows / b)`` calls, each paying a
    fixed ``overhead_s``, plus ``per_row_s`` for every row: the total falls as
    ``b`` grows, so "fits the budget" is monotone in ``b`` and binary search on
    the answer applies. A smaller batch needs less memory and reacts faster,
    hence the smallest. None when even ``max_batch`` is too slow.
    """

    def fits(batch: int) -> bool:
        return math.ceil(rows / batch) * overhead_s + rows * per_row_s <= budget_s

    return smallest_passing(1, max_batch, fits)

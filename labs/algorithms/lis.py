"""m4 — longest strictly increasing subsequence in O(n log n): a user trading up.

    from labs.algorithms.lis import longest_increasing_subsequence
    prices = [19.0, 4.5, 12.0, 12.0, 30.0, 8.0, 45.0]
    longest_increasing_subsequence(prices)     # [1, 2, 4, 6]: 4.5 < 12 < 30 < 45

Do users trade up? Take the prices of the items a user clicked, in time
order; the longest run of clicks (not necessarily adjacent) whose prices
*strictly* rise measures it. Equal prices do not count as a rise.

The O(n^2) DP asks, for each element, the longest run ending there. Patience
sorting does it in O(n log n): ``tails[l]`` is the smallest last value of
any increasing run of length ``l + 1`` seen so far. ``tails`` is sorted, so
each new value finds, by binary search, the first tail **not smaller** than
it (``bisect_left``: strict increase, so an equal value replaces, it does not
extend) and takes its place, or extends ``tails`` when every tail is smaller.

``tails`` is *not* a subsequence: it mixes values from different runs. To
return one, remember for each element the index of the element before it
(the tail of length ``l`` when it arrived) and walk those links back from the
last tail.

``lis_length_quadratic`` (given) is the O(n^2) DP; ``labkit run`` measures
both.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any


def longest_increasing_subsequence(values: Sequence[Any]) -> list[int]:
    """Indices of one longest strictly increasing subsequence of ``values``.

    Returns:
        Ascending indices ``i1 < i2 < ...`` with ``values[i1] < values[i2] <
        ...``; no strictly increasing subsequence is longer. ``[]`` for an
        empty input. When several are longest, any one is right.

    >>> longest_increasing_subsequence([3, 1, 2, 2, 5])
    [1, 3, 4]

    O(n log n) time, O(n) memory.
    """
    # BEGIN SOLUTION m4: tails[l] = smallest end of a run of length l + 1 (bisect_left for strict); link each element to the tail before it; walk back from the last tail
    tails: list[Any] = []
    tail_index: list[int] = []  # tail_index[l]: where tails[l] sits in values
    before = [-1] * len(values)  # the previous element of the run ending at i
    for i, value in enumerate(values):
        length = bisect.bisect_left(tails, value)
        if length == len(tails):
            tails.append(value)
            tail_index.append(i)
        else:
            tails[length] = value
            tail_index[length] = i
        before[i] = tail_index[length - 1] if length else -1
    run = []
    i = tail_index[-1] if tail_index else -1
    while i != -1:
        run.append(i)
        i = before[i]
    return run[::-1]
    # END SOLUTION


def lis_length_quadratic(values: Sequence[Any]) -> int:
    """The length of a longest strictly increasing subsequence by the O(n^2)
    DP (given, the baseline ``labkit run`` times against)."""
    ending = [1] * len(values)  # the longest run ending at i
    for i in range(len(values)):
        for j in range(i):
            if values[j] < values[i] and ending[j] + 1 > ending[i]:
                ending[i] = ending[j] + 1
    return max(ending, default=0)

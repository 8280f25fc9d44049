"""m3 — intervals: merge activity into sessions; count live sessions with a sweep line.

    from labs.algorithms.intervals import merge_intervals, active_counts, peak_concurrency
    sessions = merge_intervals([(0, 30), (10, 40), (40, 50), (90, 120)])
    # [(0, 50), (90, 120)]
    active_counts(sessions, [0, 49, 50, 100])      # [1, 1, 0, 1]
    peak_concurrency(all_sessions)                  # (most live at once, when first)

**The rule: intervals are half-open, ``[start, end)``.** A request at time t
keeps its user's session alive until ``t + timeout``; at exactly that instant
the session is over. So:

- intervals that *overlap or touch* (``next.start <= current.end``) merge:
  ``[0, 40)`` and ``[40, 50)`` leave no gap, and are one session ``[0, 50)``;
- a session is live at ``t`` when ``start <= t < end``;
- when one session ends at the same instant another starts, they are never
  live together: at a tie, process the end first.

Merging is a sort by start and one pass that either extends the current
interval or starts a new one: O(n log n). Counting at many times is a **sweep
line**: walk the sorted starts and the sorted ends alongside the sorted query
times; the live count is (starts so far) - (ends so far). O((n + q) log(n + q)),
where asking each query separately would cost O(n q).

ShopStream logs requests, not sessions; ``shop.request_intervals`` gives each
request ``[t, t + 30 min)``, and merging a user's intervals *is* the usual
30-minute sessionisation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Interval = tuple[Any, Any]  # (start, end), start < end


def _checked(intervals: Iterable[Interval]) -> list[Interval]:
    out = []
    for start, end in intervals:
        if not start < end:
            raise ValueError(
                f"interval ({start}, {end}) is empty or reversed; intervals are "
                "half-open [start, end) and need start < end."
            )
        out.append((start, end))
    return out


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Merge overlapping or touching half-open intervals.

    Args:
        intervals: ``(start, end)`` pairs in any order.

    Returns:
        Disjoint intervals sorted by start, with a gap between each two.

    >>> merge_intervals([(5, 8), (1, 3), (2, 4), (4, 5), (10, 11)])
    [(1, 8), (10, 11)]

    O(n log n) time, O(n) memory.
    """
    pairs = _checked(intervals)
    # BEGIN SOLUTION m3: sort by start; extend the last merged interval while the next starts at or before its end
    merged: list[Interval] = []
    for start, end in sorted(pairs):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
    # END SOLUTION


def active_counts(intervals: Iterable[Interval], times: Sequence[Any]) -> list[int]:
    """How many intervals are live (``start <= t < end``) at each of ``times``.

    Args:
        intervals: ``(start, end)`` pairs; overlapping ones each count.
        times: query times in any order; the answer follows their order.

    >>> active_counts([(0, 10), (5, 15), (10, 20)], [4, 5, 10, 20])
    [1, 2, 2, 0]

    A sweep line: O((n + q) log(n + q)) time, O(n + q) memory.
    """
    pairs = _checked(intervals)
    # BEGIN SOLUTION m3: sort starts, ends and the query times; sweep them together counting starts <= t and ends <= t
    starts = sorted(start for start, _ in pairs)
    ends = sorted(end for _, end in pairs)
    counts = [0] * len(times)
    started = ended = 0
    for index in sorted(range(len(times)), key=times.__getitem__):
        t = times[index]
        while started < len(starts) and starts[started] <= t:
            started += 1
        while ended < len(ends) and ends[ended] <= t:
            ended += 1
        counts[index] = started - ended
    return counts
    # END SOLUTION


def peak_concurrency(intervals: Iterable[Interval]) -> tuple[int, Any]:
    """The most intervals live at once, and the earliest time that happens.

    Returns:
        ``(peak, time)``; ``(0, None)`` when there are no intervals.

    >>> peak_concurrency([(0, 10), (10, 20), (5, 12)])
    (2, 5)

    O(n log n): sort the 2n start and end events, ends first at a tie.
    """
    pairs = _checked(intervals)
    # BEGIN SOLUTION m3: events (time, -1) for ends and (time, +1) for starts, sorted so an end comes first at a tie; track the running count's maximum
    events = sorted(
        [(end, -1) for _, end in pairs] + [(start, 1) for start, _ in pairs]
    )
    live, peak, when = 0, 0, None
    for time, change in events:
        live += change
        if live > peak:
            peak, when = live, time
    return peak, when
    # END SOLUTION

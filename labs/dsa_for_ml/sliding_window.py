"""m5 — per-key sliding-window counts over an event stream: the feature store's streaming path.

    from labs.dsa_for_ml.sliding_window import SlidingWindowCounter, replay
    clicks_1h = SlidingWindowCounter(window_us=3_600_000_000)
    clicks_1h.add("user-42", event_us=t0, arrival_us=t0 + 20_000_000, value=1.0)
    clicks_1h.query("user-42", now_us)      # WindowValue(count=1, total=1.0)

The batch path of ``labs/feature_store`` (``windows.windowed_sum``) computes,
for a key ``k`` as of time ``t`` and window ``w``, the count and the sum over
the events ``j`` of ``k`` with

    t − w ≤ event_j    and    arrival_j ≤ t.

This module maintains the same numbers incrementally, as events arrive, so a
serving replica can answer "clicks in the last hour" at any moment instead of
waiting for the next materialisation. The rules of the stream:

- **Arrival order.** Events are added in order of ``arrival_us`` (when the
  stream delivered them), and queries ask about a ``now_us`` no earlier than
  anything seen: the counter's clock only moves forward. Breaking the rule
  raises ``ValueError``.
- **Out of order in event time is fine.** An event may arrive late (its
  ``event_us`` before events already held); it is counted from its arrival
  on, exactly as the batch path does. An event that arrives after its event
  time already left the window (``event_us < arrival_us − w``) can never be
  counted and is dropped on arrival (``dropped_late`` says how many).
- **Inclusive bounds.** An event at exactly ``now − w`` still counts; one
  arriving at exactly ``now`` counts at ``now``.

Per key, the events are held sorted by event time in a list with a moving
head: an in-order event is appended (O(1)); a query first pops the events
that fell out of the window from the head (each event is popped once, so
O(1) amortised); the running count and sum answer in O(1). A late event is
inserted by binary search, O(log n + d), ``d`` being the key's held events
newer than it (a handful, since late events are rare and near the front of
a short window). ``purge(now)`` drops expired events of every key, for keys
that stopped being queried.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np

COMPACT_AT = (
    64  # a key's popped prefix is cut off once it is this long and half the list
)


@dataclass(frozen=True)
class WindowValue:
    """The window's count of events and the sum of their values."""

    count: int
    total: float


class _KeyWindow:
    """One key's held events, sorted by event time; ``times[head:]`` are live."""

    __slots__ = ("head", "times", "total", "values")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.values: list[float] = []
        self.head = 0
        self.total = 0.0

    def __len__(self) -> int:
        return len(self.times) - self.head


class SlidingWindowCounter:
    """Count and sum per key over the last ``window_us`` of event time.

    Args:
        window_us: the window ``w`` in microseconds (> 0).

    Attributes:
        clock_us: the latest arrival or query time seen (the stream's "now").
        added, dropped_late: events held / refused as already out of window.
    """

    def __init__(self, window_us: int):
        if isinstance(window_us, bool) or not isinstance(window_us, int | np.integer):
            raise ValueError(f"window_us must be an integer, got {window_us!r}.")
        if window_us <= 0:
            raise ValueError(f"window_us must be positive, got {window_us}.")
        self.window_us = int(window_us)
        self.clock_us: int | None = None
        self.added = self.dropped_late = 0
        self._keys: dict[Hashable, _KeyWindow] = {}

    # --- the clock rule (given) ------------------------------------------------------
    def _advance(self, now_us: int, what: str) -> int:
        now_us = int(now_us)
        if self.clock_us is not None and now_us < self.clock_us:
            raise ValueError(
                f"{what} {now_us} is before the stream's clock {self.clock_us}: feed "
                "events in arrival order and ask about times that do not go back."
            )
        self.clock_us = now_us
        return now_us

    # --- the exercise ------------------------------------------------------------------
    def add(
        self, key: Hashable, event_us: int, arrival_us: int, value: float = 1.0
    ) -> bool:
        """Take in one event that arrived at ``arrival_us``.

        Returns:
            True if it is held; False if it was already out of the window on
            arrival (``event_us < arrival_us − w``) and is dropped for good.

        Raises:
            ValueError: ``arrival_us`` is before the clock, or before ``event_us``.
        """
        event_us = int(event_us)
        if int(arrival_us) < event_us:
            raise ValueError(
                f"event of {key!r} arrived at {arrival_us}, before it happened at "
                f"{event_us}; quarantine rows with arrival < event upstream."
            )
        now = self._advance(arrival_us, "arrival_us")
        # BEGIN SOLUTION m5: drop events already out of the window; else append (or insort when late) and add to the running sum
        if event_us < now - self.window_us:
            self.dropped_late += 1
            return False
        window = self._keys.get(key)
        if window is None:
            window = self._keys[key] = _KeyWindow()
        if not window.times or event_us >= window.times[-1]:
            window.times.append(event_us)  # in order: O(1)
            window.values.append(value)
        else:  # late: binary search among the live events, shift the newer ones
            i = bisect.bisect_right(window.times, event_us, lo=window.head)
            window.times.insert(i, event_us)
            window.values.insert(i, value)
        window.total += value
        self.added += 1
        return True
        # END SOLUTION

    def _expire(self, window: _KeyWindow, now_us: int) -> None:
        """Pop the events with ``event < now − w`` from the head of the key's list."""
        # BEGIN SOLUTION m5: advance the head past expired events, subtracting their values; compact the list now and then
        bound = now_us - self.window_us
        times, values, head = window.times, window.values, window.head
        while head < len(times) and times[head] < bound:
            window.total -= values[head]
            head += 1
        if head >= COMPACT_AT and 2 * head >= len(times):
            del times[:head], values[:head]
            head = 0
        if head == len(times):
            window.total = 0.0  # no float residue once empty
        window.head = head
        # END SOLUTION

    def query(self, key: Hashable, now_us: int) -> WindowValue:
        """Count and sum of ``key``'s events with ``now − w ≤ event``, arrived by now."""
        now = self._advance(now_us, "now_us")
        window = self._keys.get(key)
        if window is None:
            return WindowValue(0, 0.0)
        # BEGIN SOLUTION m5: expire, then answer from the running count and sum
        self._expire(window, now)
        return WindowValue(len(window), window.total)
        # END SOLUTION

    def count(self, key: Hashable, now_us: int) -> int:
        return self.query(key, now_us).count

    def purge(self, now_us: int) -> int:
        """Expire every key as of ``now_us`` and forget keys left empty.

        Returns the number of keys forgotten. O(keys + expired events).
        """
        now = self._advance(now_us, "now_us")
        empty = []
        for key, window in self._keys.items():
            self._expire(window, now)
            if len(window) == 0:
                empty.append(key)
        for key in empty:
            del self._keys[key]
        return len(empty)

    def held(self) -> int:
        """Events held over all keys (expired ones included until queried or purged)."""
        return sum(len(w) for w in self._keys.values())

    def __len__(self) -> int:
        """Keys with held events."""
        return len(self._keys)


def replay(
    counter: SlidingWindowCounter,
    key: Iterable[Hashable],
    event_us: np.ndarray,
    arrival_us: np.ndarray,
    value: np.ndarray | None,
    query_key: Iterable[Hashable],
    query_us: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a stream through ``counter`` and answer queries at their times.

    Events go in by ``arrival_us`` and queries by ``query_us`` (both sorted
    stably here); an event arriving at exactly a query's time goes first,
    so "arrived by ``t``" is inclusive, as in the batch path. Every event
    goes in, those after the last query too.

    Returns:
        ``counts`` (int64) and ``totals`` (float64), aligned with the queries.
    """
    keys = list(key)
    event_us = np.asarray(event_us, dtype=np.int64)
    arrival_us = np.asarray(arrival_us, dtype=np.int64)
    values = (
        np.ones(len(keys)) if value is None else np.asarray(value, dtype=np.float64)
    )
    q_keys = list(query_key)
    query_us = np.asarray(query_us, dtype=np.int64)
    if not (len(keys) == len(event_us) == len(arrival_us) == len(values)):
        raise ValueError(
            f"replay needs one event time, arrival time and value per key: "
            f"{len(keys)}, {len(event_us)}, {len(arrival_us)}, {len(values)}."
        )
    if len(q_keys) != len(query_us):
        raise ValueError(
            f"replay needs one time per query key: {len(q_keys)} keys, "
            f"{len(query_us)} times."
        )
    e_order = np.argsort(arrival_us, kind="stable")
    q_order = np.argsort(query_us, kind="stable")
    counts = np.zeros(len(q_keys), dtype=np.int64)
    totals = np.zeros(len(q_keys), dtype=np.float64)
    e_times = arrival_us[e_order].tolist()
    e_list = e_order.tolist()
    ev, vals = event_us.tolist(), values.tolist()
    i = 0
    add, ask = counter.add, counter.query
    for q in q_order.tolist():
        t = int(query_us[q])
        while i < len(e_list) and e_times[i] <= t:
            j = e_list[i]
            add(keys[j], ev[j], e_times[i], vals[j])
            i += 1
        answer = ask(q_keys[q], t)
        counts[q], totals[q] = answer.count, answer.total
    for rest in range(i, len(e_list)):  # the stream goes on after the last query
        j = e_list[rest]
        add(keys[j], ev[j], e_times[rest], vals[j])
    return counts, totals

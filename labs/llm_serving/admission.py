"""Admission by KV-cache budget: refuse what cannot fit, before it is queued.

    admission = KVAdmission(capacity_tokens=2048, budget=2.0)
    admission.admit(seq_id, cost=96)     # Overloaded (-> 503 + Retry-After) if over budget
    ...
    admission.release(seq_id)            # when it finishes, or is cancelled

A server that queues whatever arrives runs out of memory (or, with a
paged cache, preempts without end) when the offered load passes what the
cache can hold. So each request is charged, when it arrives, the most KV
memory it may ever hold, its **cost** in token slots:

- contiguous cache: a whole stretch of ``max_len`` slots, whatever its length;
- paged cache: the blocks for ``prompt + max_tokens`` positions, rounded up
  to whole blocks.

The requests admitted and not yet finished (running *and* waiting) may
together cost at most ``budget × capacity_tokens``: ``budget = 1`` means
nothing ever waits for memory; ``budget = 2`` lets a second cache's worth
of requests queue (short answers finish early, so it is rarely all used).
A request over the budget gets ``Overloaded``, which the service turns into
``503`` with ``Retry-After``: a client can come back, where an out-of-memory
crash would have failed every request in flight.

Check it: ``labkit check llm_serving`` (milestone m4).
"""

from __future__ import annotations

import math


class Overloaded(RuntimeError):
    """The KV-cache budget is spent; retry after a while."""


class KVAdmission:
    """Counts the KV cost of admitted, unfinished requests against a budget."""

    def __init__(self, capacity_tokens: int, budget: float = 2.0):
        if capacity_tokens < 1:
            raise ValueError(f"capacity_tokens must be >= 1, got {capacity_tokens}.")
        if not (math.isfinite(budget) and budget > 0):
            raise ValueError(f"budget must be a positive number, got {budget}.")
        self.capacity_tokens = capacity_tokens
        self.budget = budget
        self.committed = 0  # cost of the requests admitted and not yet released
        self._costs: dict[int, int] = {}  # seq id -> its cost
        self.rejected = 0

    @property
    def limit(self) -> int:
        """The most the admitted requests may cost together."""
        return int(self.budget * self.capacity_tokens)

    @property
    def in_flight(self) -> int:
        return len(self._costs)

    def admit(self, seq_id: int, cost: int) -> None:
        """Charge ``cost`` slots to ``seq_id``, or refuse it.

        A request is admitted when ``committed + cost <= limit`` (equal is
        fine: the budget may be spent exactly).

        Raises:
            Overloaded: it would take the committed cost past the limit.
        """
        if cost < 1:
            raise ValueError(f"a request costs at least one slot, got {cost}.")
        if seq_id in self._costs:
            raise ValueError(f"sequence {seq_id} was admitted already.")
        # BEGIN SOLUTION m4: refuse (count it in self.rejected, raise Overloaded with the numbers) when committed + cost would pass the limit; else record the cost and add it to committed
        if self.committed + cost > self.limit:
            self.rejected += 1
            raise Overloaded(
                f"the KV cache is committed to {self.committed} of {self.limit} token "
                f"slots and this request may need {cost}; retry shortly."
            )
        self._costs[seq_id] = cost
        self.committed += cost
        # END SOLUTION

    def release(self, seq_id: int) -> None:
        """``seq_id`` finished or was cancelled: its cost is free again (once)."""
        # BEGIN SOLUTION m4: pop the sequence's cost (ignore a sequence released already) and subtract it from committed
        cost = self._costs.pop(seq_id, None)
        if cost is not None:
            self.committed -= cost
        # END SOLUTION

"""m4 — 0/1 knapsack: the features that fit a latency budget with the most gain.

    from labs.algorithms.feature_budget import knapsack
    gain, chosen = knapsack([120, 300, 80], [4.0, 9.0, 2.5], 400)   # costs in µs
    # (11.5, [1, 2]): 300 + 80 = 380 µs fits; 120 + 300 = 420 µs does not

Every feature the ranking service reads costs time on the request path and
buys some ranking quality. Given a latency budget, pick the subset with the
largest total gain whose total cost fits: the 0/1 knapsack, each feature
taken once or not at all.

``best[c]`` is the most gain within cost ``c`` using the features seen so
far. Adding feature ``i`` (cost ``w``, gain ``g``) updates
``best[c] = max(best[c], best[c - w] + g)`` for every ``c >= w``, **from the
top budget down**: going down, ``best[c - w]`` still means "without feature
``i``", so the feature is used at most once. Going *up* reads a value that
already includes feature ``i`` and solves the unbounded knapsack instead.

To say *which* features, keep one bit per (feature, budget): whether feature
``i`` improved ``best[c]``. Walking the features backwards from the full
budget, a set bit means "take it, and continue from ``c - w``".

O(n W) time for n features and an integer budget W (pseudo-polynomial: it
grows with the budget's *value*, so costs are in whole microseconds), O(W)
numbers plus n W bits. Sorting by gain per unit of cost (greedy) is fast and
wrong; the brief's run shows by how much on ShopStream's menu.
"""

from __future__ import annotations

from collections.abc import Sequence


def _check(costs: Sequence[int], gains: Sequence[float], budget: int) -> None:
    if len(costs) != len(gains):
        raise ValueError(
            f"got {len(costs)} costs and {len(gains)} gains; pass one of each per item."
        )
    for name, value in [("budget", budget), *(("a cost", c) for c in costs)]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(
                f"{name} must be a non-negative integer (e.g. whole microseconds), "
                f"got {value!r}."
            )
    for gain in gains:
        if not gain >= 0:
            raise ValueError(f"gains must be non-negative numbers, got {gain!r}.")


def knapsack(
    costs: Sequence[int], gains: Sequence[float], budget: int
) -> tuple[float, list[int]]:
    """The largest total gain of items whose costs sum to at most ``budget``.

    Args:
        costs: non-negative integer cost of each item.
        gains: non-negative gain of each item.
        budget: non-negative integer; a set costing exactly ``budget`` fits.

    Returns:
        ``(best_gain, chosen)``: ``chosen`` lists the indices of one best
        set, ascending, each at most once.

    >>> knapsack([3, 4, 2], [4.0, 5.0, 3.0], 6)
    (8.0, [1, 2])

    O(n * budget) time, O(budget) numbers and n * budget bits of memory.
    """
    _check(costs, gains, budget)
    # BEGIN SOLUTION m4: best[c] over budgets, updated per item from c = budget down to its cost; a bit per (item, c) records "taken", walked back from the full budget
    best = [0.0] * (budget + 1)
    took = [bytearray(budget + 1) for _ in costs]
    for item, (cost, gain) in enumerate(zip(costs, gains, strict=True)):
        for c in range(budget, cost - 1, -1):
            if best[c - cost] + gain > best[c]:
                best[c] = best[c - cost] + gain
                took[item][c] = 1
    chosen, c = [], budget
    for item in range(len(costs) - 1, -1, -1):
        if took[item][c]:
            chosen.append(item)
            c -= costs[item]
    return best[budget], chosen[::-1]
    # END SOLUTION


def greedy_by_ratio(
    costs: Sequence[int], gains: Sequence[float], budget: int
) -> tuple[float, list[int]]:
    """The tempting heuristic (given, for comparison): take items by gain per
    unit of cost while they fit. O(n log n); not optimal."""
    _check(costs, gains, budget)
    order = sorted(
        range(len(costs)),
        key=lambda i: -(gains[i] / costs[i]) if costs[i] else -float("inf"),
    )
    total, left, chosen = 0.0, budget, []
    for item in order:
        if costs[item] <= left:
            chosen.append(item)
            total += gains[item]
            left -= costs[item]
    return total, sorted(chosen)

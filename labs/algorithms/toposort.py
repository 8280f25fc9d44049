"""m2 — topological order of a pipeline's steps (Kahn's algorithm), cycles named.

    from labs.algorithms.toposort import topological_order, CycleError
    topological_order({"train": ["features"], "features": ["events"], "events": []})
    # ['events', 'features', 'train']

A pipeline is a set of steps, each with the steps it needs first. Kahn's
algorithm keeps a count of unmet prerequisites per step; a step whose count
reaches zero is ready. Taking a ready step releases the steps waiting on it.
Every step and every dependency is handled once: O(V + E), plus a heap over
the ready steps (O(V log V)) to make the order unique.

**The order is unique.** Among the steps ready at the same moment, the
smallest name goes first. The result is the lexicographically smallest
topological order, exactly ``networkx.lexicographical_topological_sort``,
the tests' oracle.

**Cycles are named.** If steps are left when nothing is ready, every one of
them still waits on another leftover step, so following prerequisites from
any of them must come back to a step already seen. That loop is the cycle,
reported as ``[a, b, c, a]``: ``a`` needs ``b``, ``b`` needs ``c``, ``c``
needs ``a``. A person can fix a pipeline from that message; "there is a
cycle somewhere" helps nobody.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

Step = Any  # hashable and orderable: step names (str) or numbers


class CycleError(ValueError):
    """The steps depend on each other in a loop; ``cycle`` names it."""

    def __init__(self, cycle: list[Step]):
        self.cycle = cycle
        loop = " needs ".join(str(step) for step in cycle)
        super().__init__(
            f"the pipeline has a cycle: {loop}. Remove one of these dependencies "
            "so the steps can run in some order."
        )


def check_steps(steps: Mapping[Step, Iterable[Step]]) -> dict[Step, list[Step]]:
    """``steps`` as ``{step: sorted distinct prerequisites}``, or a clear error."""
    graph: dict[Step, list[Step]] = {}
    for step, prerequisites in steps.items():
        if not isinstance(step, Hashable):
            raise ValueError(f"step names must be hashable, got {step!r}.")
        needed = sorted(set(prerequisites))
        unknown = [p for p in needed if p not in steps]
        if unknown:
            raise ValueError(
                f"step {step!r} needs {unknown[0]!r}, which is not a step; add it "
                "to the pipeline (with its own prerequisites, possibly none)."
            )
        graph[step] = needed
    return graph


def topological_order(steps: Mapping[Step, Iterable[Step]]) -> list[Step]:
    """An order of ``steps`` in which every step comes after its prerequisites.

    Args:
        steps: each step mapped to the steps it needs first. A prerequisite
            listed twice counts once.

    Returns:
        Every step once. Among steps ready at the same time the smallest
        comes first, so the answer is unique.

    Raises:
        CycleError: the steps cannot be ordered; ``.cycle`` is one loop.

    >>> topological_order({"b": ["a"], "c": ["a"], "a": []})
    ['a', 'b', 'c']

    O(V log V + E) time, O(V + E) memory.
    """
    graph = check_steps(steps)
    # BEGIN SOLUTION m2: count unmet prerequisites; repeatedly take the smallest ready step (a heap) and release the steps it unlocks
    unmet = {step: len(needed) for step, needed in graph.items()}
    unlocks: dict[Step, list[Step]] = {step: [] for step in graph}
    for step, needed in graph.items():
        for prerequisite in needed:
            unlocks[prerequisite].append(step)
    ready = [step for step, count in unmet.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        step = heapq.heappop(ready)
        order.append(step)
        for waiting in unlocks[step]:
            unmet[waiting] -= 1
            if unmet[waiting] == 0:
                heapq.heappush(ready, waiting)
    if len(order) < len(graph):
        stuck = {step for step, count in unmet.items() if count > 0}
        raise CycleError(find_cycle(graph, stuck))
    return order
    # END SOLUTION


def find_cycle(graph: Mapping[Step, list[Step]], stuck: set[Step]) -> list[Step]:
    """One cycle among the ``stuck`` steps, as ``[a, b, ..., a]``.

    ``stuck`` are the steps Kahn's algorithm could not take: each has at least
    one prerequisite that is itself stuck. Each step of the answer lists the
    next one as a prerequisite, and only the first and last entries repeat.

    >>> find_cycle({"a": ["b"], "b": ["a"], "c": ["b"]}, {"a", "b", "c"})
    ['a', 'b', 'a']

    O(V + E): each stuck step is visited at most once.
    """
    # BEGIN SOLUTION m2: from the smallest stuck step, follow stuck prerequisites until a step repeats; the loop from its first visit is the cycle
    position: dict[Step, int] = {}
    walk: list[Step] = []
    step = min(stuck)
    while step not in position:
        position[step] = len(walk)
        walk.append(step)
        step = next(p for p in graph[step] if p in stuck)
    return [*walk[position[step] :], step]
    # END SOLUTION

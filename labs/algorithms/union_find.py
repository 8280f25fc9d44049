"""m2 — union-find: merge ShopStream accounts that share a device.

    from labs.algorithms.union_find import UnionFind, merge_accounts
    people = merge_accounts({1: ["phone-a"], 2: ["phone-a", "tv-b"], 3: ["tv-b"], 4: []})
    # [[1, 2, 3], [4]]

Fraud, recommendations and user counts all want *people*, not accounts. Two
accounts seen on one device are one person, and so, transitively, is every
account linked to them by a chain of shared devices: the connected components
of the account-device graph.

A disjoint-set forest answers that online, one link at a time. Every element
points at a parent; a root points at itself and names its set.

- ``find(x)`` walks to the root, then points every node it passed straight at
  the root (**path compression**), so the next walk is one step.
- ``union(a, b)`` links the two *roots*, the shorter tree under the taller
  (**union by rank**; ``rank`` bounds a tree's height). Linking anything but
  roots loses members; linking the taller under the shorter lets a chain grow
  to height n.

With both, m operations cost O(m α(n)), α the inverse Ackermann function,
below 5 for any n that fits in memory. Union by rank alone keeps every tree's
height at most log2 of its size; the tests check that bound, and that a
``find`` leaves its path pointing at the root.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

Element = Any  # hashable


class UnionFind:
    """Disjoint sets over hashable elements, with path compression and union by rank.

    ``parent`` and ``rank`` are public so tests and curious candidates can
    inspect the forest.
    """

    def __init__(self, elements: Iterable[Element] = ()):
        self.parent: dict[Element, Element] = {}
        self.rank: dict[Element, int] = {}
        for element in elements:
            self.add(element)

    def add(self, element: Element) -> None:
        """Make ``element`` a set of its own (nothing happens if it exists)."""
        if not isinstance(element, Hashable):
            raise TypeError(f"elements must be hashable, got {element!r}.")
        if element not in self.parent:
            self.parent[element] = element
            self.rank[element] = 0

    def _known(self, element: Element) -> None:
        if element not in self.parent:
            raise KeyError(f"{element!r} was never added; call add({element!r}) first.")

    def find(self, element: Element) -> Element:
        """The root of ``element``'s set; every node on the way now points at it.

        >>> sets = UnionFind("abc")
        >>> sets.union("a", "b")
        True
        >>> sets.find("b") == sets.find("a")
        True

        O(α(n)) amortised. Iterative, so a long chain cannot overflow the stack.
        """
        self._known(element)
        # BEGIN SOLUTION m2: walk up to the root, then walk the path again pointing each node at the root
        root = element
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[element] != root:
            self.parent[element], element = root, self.parent[element]
        return root
        # END SOLUTION

    def union(self, a: Element, b: Element) -> bool:
        """Merge the sets of ``a`` and ``b``; False if they were already one.

        The root of smaller rank goes under the other; on equal ranks, ``b``'s
        root goes under ``a``'s and that rank grows by one.

        O(α(n)) amortised.
        """
        self._known(a)
        self._known(b)
        # BEGIN SOLUTION m2: find both roots; link the lower-rank root under the higher, bumping the rank on a tie
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return False
        if self.rank[root_a] < self.rank[root_b]:
            root_a, root_b = root_b, root_a
        self.parent[root_b] = root_a
        if self.rank[root_a] == self.rank[root_b]:
            self.rank[root_a] += 1
        return True
        # END SOLUTION

    def groups(self) -> list[list[Element]]:
        """Every set as a sorted list, the sets ordered by their smallest element."""
        members: dict[Element, list[Element]] = {}
        for element in self.parent:
            members.setdefault(self.find(element), []).append(element)
        return sorted((sorted(group) for group in members.values()), key=lambda g: g[0])

    def __len__(self) -> int:
        return len(self.parent)


def merge_accounts(devices: Mapping[Element, Iterable[str]]) -> list[list[Element]]:
    """Group the accounts that share a device, directly or through a chain.

    Args:
        devices: each account mapped to the devices it was seen on (possibly
            none: the account is a person of its own).

    Returns:
        The people: sorted lists of accounts, ordered by their smallest account.

    >>> merge_accounts({1: ["d1"], 2: ["d1", "d2"], 3: ["d2"], 4: ["d3"]})
    [[1, 2, 3], [4]]

    O((A + D) α(A)) for A accounts and D (account, device) sightings.
    """
    sets = UnionFind(devices)
    # BEGIN SOLUTION m2: remember the first account seen on each device; union every later account on it with that one
    first_seen: dict[str, Element] = {}
    for account, seen_on in devices.items():
        for device in seen_on:
            if device in first_seen:
                sets.union(first_seen[device], account)
            else:
                first_seen[device] = account
    # END SOLUTION
    return sets.groups()

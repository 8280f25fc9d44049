"""m3 — a trie that completes a search prefix with the most frequent queries.

    from labs.algorithms.trie import Trie
    box = Trie()
    for query in query_log: box.insert(query)      # "red wool scarf", ...
    box.top_k("red w", 5)       # [("red wool scarf", 41), ("red wool hat", 17), ...]

ShopStream's search box suggests completions as the user types. A trie stores
the queries character by character, so every query that starts with a prefix
lies in the subtree under that prefix's node: reaching it costs O(|prefix|),
whatever the number of queries.

``insert`` adds to a query's count (the log repeats queries). ``top_k`` walks
to the prefix's node, collects the queries below it, and keeps the ``k``
most frequent: O(|prefix| + m log k) for m queries under the prefix. The
prefix itself counts if it was searched. Production autocompleters store the
top k at every node to answer in O(|prefix|), paying memory and a costlier
insert; "What an interviewer asks" in the brief discusses it.

**Order and ties.** Most frequent first; equal counts in alphabetical order of
the query. The tests compare against a brute-force filter and sort of the
whole log.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    count: int = 0  # times this exact query was inserted (0: only a prefix)


class Trie:
    """Query strings with counts, completed by prefix."""

    def __init__(self) -> None:
        self.root = _Node()
        self.queries = 0  # distinct queries stored

    def insert(self, query: str, count: int = 1) -> None:
        """Add ``count`` searches of ``query`` (counts accumulate).

        O(|query|).
        """
        if not isinstance(query, str) or not query:
            raise ValueError(f"a query must be a non-empty string, got {query!r}.")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}.")
        # BEGIN SOLUTION m3: walk down, creating a child per missing character; add count at the last node
        node = self.root
        for char in query:
            node = node.children.setdefault(char, _Node())
        if node.count == 0:
            self.queries += 1
        node.count += count
        # END SOLUTION

    def count(self, query: str) -> int:
        """How many times ``query`` was inserted (0 if never)."""
        node = self._node(query)
        return 0 if node is None else node.count

    def _node(self, prefix: str) -> _Node | None:
        node = self.root
        for char in prefix:
            node = node.children.get(char)
            if node is None:
                return None
        return node

    def top_k(self, prefix: str, k: int) -> list[tuple[str, int]]:
        """The ``k`` most frequent queries that start with ``prefix``.

        Returns:
            ``[(query, count)]``, highest count first, ties alphabetical.
            The prefix itself is included when it was searched; an unknown
            prefix gives ``[]``.

        >>> box = Trie()
        >>> for q in ["shoe", "shoes", "shoes", "shirt"]: box.insert(q)
        >>> box.top_k("sho", 5)
        [('shoes', 2), ('shoe', 1)]

        O(|prefix| + m log k) for the m queries under the prefix.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be a non-negative integer, got {k!r}.")
        # BEGIN SOLUTION m3: reach the prefix's node; visit its subtree (the node too) and keep the k best (-count, query)
        start = self._node(prefix)
        if start is None or k == 0:
            return []
        found = []
        stack = [(start, prefix)]
        while stack:
            node, text = stack.pop()
            if node.count:
                found.append((-node.count, text))
            for char, child in node.children.items():
                stack.append((child, text + char))
        return [(text, -negative) for negative, text in heapq.nsmallest(k, found)]
        # END SOLUTION

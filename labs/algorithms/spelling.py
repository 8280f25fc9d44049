"""m4 — edit distance with the alignment: correct misspelled search queries.

    from labs.algorithms.spelling import edit_distance, alignment, correct
    edit_distance("kitten", "sitting")      # 3
    alignment("cat", "cut")                 # [("keep","c","c"), ("replace","a","u"), ("keep","t","t")]
    correct("red wol scarf", vocabulary)    # "red wool scarf"

The Levenshtein distance counts the fewest single-character inserts, deletes
and replacements that turn ``a`` into ``b``. ``table[i][j]`` is the distance
between the first ``i`` characters of ``a`` and the first ``j`` of ``b``:

- ``table[i][0] = i`` (delete everything) and ``table[0][j] = j`` (insert
  everything): the border is not zero;
- ``table[i][j] = min(table[i-1][j] + 1``      (delete ``a[i-1]``)
  ``table[i][j-1] + 1``                        (insert ``b[j-1]``)
  ``table[i-1][j-1] + (a[i-1] != b[j-1]))``    (keep or replace).

Filling it costs O(nm) time and memory. The *alignment* walks back from the
bottom-right corner, at each cell taking a move that explains its value,
until it reaches ``(0, 0)``; reversed, those moves are an edit script. Its
cost (every move but ``keep``) equals the distance. Distance alone needs only
two rows, O(min(n, m)) memory; the alignment needs the table (or
Hirschberg's divide and conquer).

At a tie the walk prefers keep/replace, then delete, then insert; the tests
accept any optimal script: applied to ``a`` it must give ``b``, and cost
exactly the distance.
"""

from __future__ import annotations

from collections.abc import Mapping

Edit = tuple[str, str, str]  # (op, character of a, character of b); "" where absent
OPS = ("keep", "replace", "delete", "insert")


def _check(a: str, b: str) -> None:
    if not isinstance(a, str) or not isinstance(b, str):
        raise TypeError(f"edit distance compares two strings, got {a!r} and {b!r}.")


def distance_table(a: str, b: str) -> list[list[int]]:
    """The ``(len(a) + 1) x (len(b) + 1)`` table of prefix edit distances.

    >>> distance_table("ab", "b")
    [[0, 1], [1, 1], [2, 1]]

    O(len(a) len(b)) time and memory.
    """
    _check(a, b)
    # BEGIN SOLUTION m4: border = i and j (all deletes / all inserts); each cell is the cheapest of delete, insert, keep-or-replace
    rows, cols = len(a) + 1, len(b) + 1
    table = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        table[i][0] = i
    for j in range(cols):
        table[0][j] = j
    for i in range(1, rows):
        above, row = table[i - 1], table[i]
        for j in range(1, cols):
            row[j] = min(
                above[j] + 1,
                row[j - 1] + 1,
                above[j - 1] + (a[i - 1] != b[j - 1]),
            )
    return table
    # END SOLUTION


def edit_distance(a: str, b: str) -> int:
    """The Levenshtein distance between ``a`` and ``b`` (unit costs). O(nm)."""
    return distance_table(a, b)[-1][-1]


def alignment(a: str, b: str) -> list[Edit]:
    """An optimal edit script from ``a`` to ``b``.

    Returns:
        ``(op, char_a, char_b)`` triples in order, ``op`` one of ``keep``,
        ``replace``, ``delete`` (``char_b == ""``), ``insert``
        (``char_a == ""``). The ops other than ``keep`` number exactly
        ``edit_distance(a, b)``.

    >>> alignment("ab", "b")
    [('delete', 'a', ''), ('keep', 'b', 'b')]

    O(nm) for the table, then O(n + m) for the walk back.
    """
    table = distance_table(a, b)
    # BEGIN SOLUTION m4: from (len(a), len(b)) walk back to (0, 0), each step a move whose cost explains the cell; reverse the moves
    i, j = len(a), len(b)
    edits: list[Edit] = []
    while i or j:
        if i and j and table[i][j] == table[i - 1][j - 1] + (a[i - 1] != b[j - 1]):
            op = "keep" if a[i - 1] == b[j - 1] else "replace"
            edits.append((op, a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
        elif i and table[i][j] == table[i - 1][j] + 1:
            edits.append(("delete", a[i - 1], ""))
            i -= 1
        else:
            edits.append(("insert", "", b[j - 1]))
            j -= 1
    return edits[::-1]
    # END SOLUTION


def apply(edits: list[Edit]) -> tuple[str, str]:
    """The two strings an edit script aligns: ``(source, target)``."""
    for op, _, _ in edits:
        if op not in OPS:
            raise ValueError(f"unknown edit {op!r}; an edit is one of {OPS}.")
    return "".join(x for _, x, _ in edits), "".join(y for _, _, y in edits)


def render(edits: list[Edit]) -> str:
    """Two aligned lines and a marker line, for the results page."""
    top = "".join(x or "-" for _, x, _ in edits)
    bottom = "".join(y or "-" for _, _, y in edits)
    marks = "".join(" " if op == "keep" else "^" for op, _, _ in edits)
    return f"{top}\n{bottom}\n{marks}"


def correct(query: str, vocabulary: Mapping[str, int], max_distance: int = 2) -> str:
    """Replace each unknown word of ``query`` by the closest known word (given).

    A word in ``vocabulary`` stays. Otherwise the candidates are the known
    words within ``max_distance`` edits; the closest wins, then the more
    frequent (``vocabulary`` maps a word to its count), then the
    alphabetically first. A word with no candidate stays as typed. Words
    whose length differs by more than ``max_distance`` cannot be close enough
    and are skipped without filling a table.
    """
    out = []
    for word in query.split():
        if word in vocabulary:
            out.append(word)
            continue
        best: tuple[int, int, str] | None = None
        for known, count in vocabulary.items():
            if abs(len(known) - len(word)) > max_distance:
                continue
            d = edit_distance(word, known)
            if d <= max_distance and (best is None or (d, -count, known) < best):
                best = (d, -count, known)
        out.append(word if best is None else best[2])
    return " ".join(out)

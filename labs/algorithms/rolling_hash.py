"""m5 — Rabin–Karp rolling hashes: find repeated text in item descriptions.

    from labs.algorithms.rolling_hash import window_hashes, find_all, repeated_substrings
    find_all("free returns", description)            # every offset, overlaps included
    repeated_substrings(descriptions, 40)            # {text: how many descriptions hold it}

Sellers paste the same boilerplate into thousands of descriptions, and
re-list items with copied text. Both show up as substrings that occur in more
than one description.

A polynomial hash reads a string as a number in base ``B`` modulo ``M``:
``h(s) = (s[0] B^(L-1) + s[1] B^(L-2) + ... + s[L-1]) mod M``. Sliding the
window one character right removes the first character's term and appends
the new one in O(1):

    ``h' = ((h - ord(out) * B^(L-1)) * B + ord(in)) mod M``

so all ``n - L + 1`` windows of a text cost O(n), where hashing each from
scratch costs O(n L).

**Equal hashes are not equal strings.** Different windows collide with
probability about 1/M per pair: rare with ``M = 2^61 - 1``, certain with a
small modulus or an adversary. Every hash match must be **verified** by
comparing the strings before it is reported; the tests pass a tiny modulus
to make collisions common. Expected time stays O(n + m) (plus L per
verified match).
"""

from __future__ import annotations

from collections.abc import Sequence

BASE = 131  # larger than the characters of most text; any base > 1 works
MODULUS = (1 << 61) - 1  # a Mersenne prime: collisions about 1 in 2.3e18 per pair


def _check(length: int, base: int, modulus: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}.")
    if base < 2 or modulus < 2:
        raise ValueError(f"need base >= 2 and modulus >= 2, got {base}, {modulus}.")


def polynomial_hash(text: str, base: int = BASE, modulus: int = MODULUS) -> int:
    """``h(text)`` computed from scratch (given): Horner's rule, O(len(text))."""
    value = 0
    for char in text:
        value = (value * base + ord(char)) % modulus
    return value


def window_hashes(
    text: str, length: int, base: int = BASE, modulus: int = MODULUS
) -> list[int]:
    """The hash of every window ``text[i : i + length]``, for i = 0 .. n - length.

    Equal to ``[polynomial_hash(text[i:i + length]) for i in ...]``; ``[]``
    when the text is shorter than ``length``.

    >>> window_hashes("abab", 2, base=10, modulus=1000)
    [68, 77, 68]

    O(n) time.
    """
    _check(length, base, modulus)
    # BEGIN SOLUTION m5: hash the first window, then roll: drop ord(out) * base^(length-1), multiply by base, add ord(in), all mod modulus
    if length > len(text):
        return []
    leading = pow(base, length - 1, modulus)  # the weight of the character leaving
    value = polynomial_hash(text[:length], base, modulus)
    hashes = [value]
    for i in range(length, len(text)):
        value = (
            (value - ord(text[i - length]) * leading) * base + ord(text[i])
        ) % modulus
        hashes.append(value)
    return hashes
    # END SOLUTION


def find_all(
    pattern: str, text: str, base: int = BASE, modulus: int = MODULUS
) -> list[int]:
    """Every offset where ``pattern`` occurs in ``text``, overlaps included.

    >>> find_all("aa", "aaab")
    [0, 1]

    O(n + m) expected time: one rolling pass, and a string comparison only
    where the hashes match.
    """
    if not pattern:
        raise ValueError("pattern is empty; search for at least one character.")
    # BEGIN SOLUTION m5: compare each window's rolling hash with the pattern's, and confirm every match by comparing the strings
    target = polynomial_hash(pattern, base, modulus)
    size = len(pattern)
    return [
        i
        for i, value in enumerate(window_hashes(text, size, base, modulus))
        if value == target and text[i : i + size] == pattern
    ]
    # END SOLUTION


def repeated_substrings(
    texts: Sequence[str], length: int, base: int = BASE, modulus: int = MODULUS
) -> dict[str, int]:
    """Every substring of ``length`` characters found in at least two of ``texts``.

    Returns:
        ``{substring: number of texts that contain it}``, in alphabetical
        order of the substring; a substring repeated inside one text only
        does not count.

    >>> repeated_substrings(["free returns", "returns free", "no"], 4)
    {'etur': 2, 'free': 2, 'retu': 2, 'turn': 2, 'urns': 2}

    O(N) hashing for N characters in all, plus ``length`` per window whose
    hash occurs in two texts (those are compared as strings).
    """
    _check(length, base, modulus)
    # BEGIN SOLUTION m5: find the hashes that occur in two texts; for their windows only, group the actual substrings by text and keep those in two or more
    owners: dict[int, set[int]] = {}
    for number, text in enumerate(texts):
        for value in set(window_hashes(text, length, base, modulus)):
            owners.setdefault(value, set()).add(number)
    found: dict[str, set[int]] = {}
    for number, text in enumerate(texts):
        for i, value in enumerate(window_hashes(text, length, base, modulus)):
            if len(owners[value]) > 1:
                found.setdefault(text[i : i + length], set()).add(number)
    return {s: len(found[s]) for s in sorted(found) if len(found[s]) > 1}
    # END SOLUTION

"""m4 — a Bloom filter sized for a target false-positive rate.

    from labs.dsa_for_ml.bloom import BloomFilter
    seen = BloomFilter(capacity=1_000_000, fp_rate=0.01)   # ~9.6 bits per key, k = 7
    seen.add("user42:item7")
    "user42:item7" in seen            # True, always (no false negatives)
    "user42:item8" in seen            # False, or True with probability ~1%

``m`` bits and ``k`` hash functions. ``add`` sets the ``k`` bits of a key;
``in`` answers yes only if all ``k`` are set. After ``n`` insertions a given
bit is still 0 with probability ``(1 − 1/m)^{kn} ≈ e^{−kn/m}``, so a key
never added passes with probability

    p ≈ (1 − e^{−kn/m})^k.

For a target ``p`` at ``n`` keys the best choice is ``k = (m/n) ln 2`` and
``m = −n ln p / (ln 2)²`` (≈ 9.59 bits per key at 1%, 14.4 at 0.1%), whatever
the key size: the filter stores no keys. It cannot delete (clearing a bit may
erase another key), and past its capacity the rate climbs.

The ``k`` positions come from one 128-bit BLAKE2b digest split into two
64-bit halves, ``g_i = (h1 + i·h2) mod m`` (Kirsch and Mitzenmacher's double
hashing; ``h2`` is made odd so the ``k`` positions differ for any ``m``
that is a power of two). That costs one hash per key instead of ``k``.

At ShopStream: "never show an item a user already dismissed", for millions
of users, keeps one filter of ``user:item`` pairs; a false positive hides a
fresh item, a false negative never happens.
"""

from __future__ import annotations

import hashlib
import math

LN2 = math.log(2.0)


def optimal_parameters(capacity: int, fp_rate: float) -> tuple[int, int]:
    """``(m, k)``: the bits and hash functions for ``fp_rate`` at ``capacity`` keys.

    ``m = ⌈−n ln p / (ln 2)²⌉``, ``k = max(1, round((m / n) ln 2))``.
    """
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"capacity must be an integer >= 1, got {capacity!r}.")
    if not 0.0 < fp_rate < 1.0:
        raise ValueError(
            f"fp_rate must be strictly between 0 and 1 (e.g. 0.01), got {fp_rate!r}."
        )
    # BEGIN SOLUTION m4: the optimal bit count m and hash count k for n keys at rate p
    m = math.ceil(-capacity * math.log(fp_rate) / LN2**2)
    k = max(1, round(m / capacity * LN2))
    return m, k
    # END SOLUTION


def theoretical_fp_rate(m: int, k: int, n: int) -> float:
    """``(1 − e^{−kn/m})^k``: the chance a key never added passes, after ``n`` adds."""
    return (1.0 - math.exp(-k * n / m)) ** k


def _key_bytes(key: str | bytes) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8")
    raise TypeError(
        f"Bloom filter keys are str or bytes, got {type(key).__name__}; "
        f"convert with str(key) (the same way on add and on lookup)."
    )


class BloomFilter:
    """A set that answers "maybe present" or "certainly absent" in ``m`` bits.

    Args:
        capacity: the keys it is sized for (``n``).
        fp_rate: the false-positive rate wanted at ``capacity`` keys.
        m, k: bits and hash functions, to override the optimal choice
            (give both).
    """

    def __init__(
        self,
        capacity: int,
        fp_rate: float = 0.01,
        *,
        m: int | None = None,
        k: int | None = None,
    ):
        if (m is None) != (k is None):
            raise ValueError(
                "give both m and k to size the filter by hand, or neither."
            )
        if m is None or k is None:
            m, k = optimal_parameters(capacity, fp_rate)
        if m < 1 or k < 1:
            raise ValueError(
                f"a Bloom filter needs m >= 1 bits and k >= 1, got {m}, {k}."
            )
        self.capacity, self.fp_rate = capacity, fp_rate
        self.m, self.k = int(m), int(k)
        self.count = 0  # keys added (repeats included)
        self.bits = bytearray((self.m + 7) // 8)  # bit i is bits[i >> 3] >> (i & 7)

    def positions(self, key: str | bytes) -> list[int]:
        """The ``k`` bit positions of ``key``: ``(h1 + i·h2) mod m``."""
        digest = hashlib.blake2b(_key_bytes(key), digest_size=16).digest()
        # BEGIN SOLUTION m4: split the digest into h1 and an odd h2; the positions are (h1 + i*h2) mod m
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        m = self.m
        return [(h1 + i * h2) % m for i in range(self.k)]
        # END SOLUTION

    def add(self, key: str | bytes) -> None:
        """Set the key's ``k`` bits."""
        # BEGIN SOLUTION m4: set bit p (byte p >> 3, bit p & 7) for every position of the key
        bits = self.bits
        for p in self.positions(key):
            bits[p >> 3] |= 1 << (p & 7)
        # END SOLUTION
        self.count += 1

    def __contains__(self, key: str | bytes) -> bool:
        """True if every one of the key's bits is set (maybe added); False: never added."""
        # BEGIN SOLUTION m4: the key may be present only if all of its bits are set
        bits = self.bits
        return all(bits[p >> 3] >> (p & 7) & 1 for p in self.positions(key))
        # END SOLUTION

    def expected_fp_rate(self) -> float:
        """The theoretical false-positive rate at the current number of adds."""
        return theoretical_fp_rate(self.m, self.k, self.count)

    def fill_ratio(self) -> float:
        """The share of bits set (``≈ 1 − e^{−kn/m}``)."""
        return sum(bin(b).count("1") for b in self.bits) / self.m

    @property
    def bits_per_key(self) -> float:
        return self.m / self.capacity

    def __repr__(self) -> str:
        return (
            f"BloomFilter(m={self.m}, k={self.k}, count={self.count}, "
            f"expected_fp_rate={self.expected_fp_rate():.4g})"
        )

"""m5 — MinHash signatures and LSH banding: near-duplicate items without n^2 comparisons.

    from labs.algorithms.minhash import shingle_ids, hash_family, signatures, lsh_candidates
    sets = [shingle_ids(shingles(d)) for d in descriptions]     # word 3-shingles
    sig = signatures(sets, *hash_family(128, seed=0))            # (n, 128)
    pairs = lsh_candidates(sig, bands=32, rows=4)                # {(i, j)}, i < j

Re-listed items carry copied descriptions with a word or two changed. Their
word-shingle sets have a high Jaccard similarity ``|A ∩ B| / |A ∪ B|``;
comparing all n^2 / 2 pairs finds them, and stops scaling at a few hundred
thousand items.

**MinHash.** Hash every shingle with a random function ``h(x) = (a x + b)
mod P`` and keep the *minimum* over the set. Two sets have the same minimum
exactly when the smallest hash of ``A ∪ B`` lies in ``A ∩ B``, which happens
with probability ``J(A, B)``. With ``K`` independent functions, the share of
equal entries of two signatures estimates J with standard error
``sqrt(J (1 - J) / K)``. Take the minimum *after* the ``mod``: before it,
``a x + b`` is increasing in ``x`` and every function picks the same shingle.

**LSH banding.** Cut each signature into ``bands`` bands of ``rows``
entries (``bands * rows = K``; band ``b`` is columns ``[b*rows, (b+1)*rows)``).
Items whose band is identical share a bucket, and every two items in one
bucket are a candidate pair. A pair of similarity s becomes a candidate with
probability ``1 - (1 - s^rows)^bands``, an S-curve that rises around
``(1/bands)^(1/rows)``: many short bands catch pairs of low similarity (and
many false candidates), few long bands only close copies. Only candidates
are then checked exactly. ``labkit run`` measures the recall (true pairs
found) and the candidates per configuration against exact Jaccard.

Expected O(n K s̄) for the signatures (s̄ shingles per item) and O(n K) plus
the candidate pairs for banding.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

PRIME = (
    1 << 31
) - 1  # hash values and shingle ids stay below 2^31: a*x + b fits in int64
_WORD = re.compile(r"[a-z0-9]+")


def shingles(text: str, k: int = 3) -> set[str]:
    """The set of ``k``-word shingles of ``text`` (lower-cased words; given)."""
    words = _WORD.findall(text.lower())
    if len(words) < k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def shingle_ids(items: Iterable[str]) -> np.ndarray:
    """Stable 31-bit ids for shingles (CRC-32, the same in every process; given)."""
    return np.array(
        sorted({zlib.crc32(s.encode()) % PRIME for s in items}), dtype=np.int64
    )


def hash_family(num_perm: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``num_perm`` random functions ``(a x + b) mod PRIME``, as arrays ``(a, b)``."""
    if num_perm < 1:
        raise ValueError(f"num_perm must be at least 1, got {num_perm}.")
    rng = np.random.default_rng(seed)
    a = rng.integers(1, PRIME, num_perm, dtype=np.int64)
    b = rng.integers(0, PRIME, num_perm, dtype=np.int64)
    return a, b


def signature(ids: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The MinHash signature of one shingle set: ``min over x of (a x + b) mod PRIME``.

    Args:
        ids: the set's shingle ids (``shingle_ids``), non-empty, each < PRIME.
        a, b: the hash family (``hash_family``), shape ``(K,)`` each.

    Returns:
        Shape ``(K,)``, int64: entry k is the smallest ``(a[k] x + b[k]) mod
        PRIME`` over the set.

    O(K |set|) time, vectorised.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size == 0:
        raise ValueError("an empty shingle set has no MinHash; drop empty texts first.")
    # BEGIN SOLUTION m5: broadcast (K, 1) against (1, n): hash every id with every function, reduce mod PRIME, then the minimum per function
    return ((a[:, None] * ids[None, :] + b[:, None]) % PRIME).min(axis=1)
    # END SOLUTION


def signatures(sets: Sequence[np.ndarray], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One signature per set, shape ``(n, K)`` (given)."""
    return (
        np.stack([signature(ids, a, b) for ids in sets])
        if sets
        else np.empty((0, len(a)), np.int64)
    )


def lsh_candidates(
    signatures: np.ndarray, bands: int, rows: int
) -> set[tuple[int, int]]:
    """The pairs of items whose signatures agree on every entry of some band.

    Args:
        signatures: shape ``(n, bands * rows)``.
        bands, rows: band ``b`` covers columns ``[b * rows, (b + 1) * rows)``.

    Returns:
        ``{(i, j)}`` with ``i < j``: every two items that share a bucket in at
        least one band.

    O(n * bands * rows) to bucket, plus one step per candidate pair.
    """
    n, width = signatures.shape
    if bands < 1 or rows < 1 or bands * rows != width:
        raise ValueError(
            f"bands * rows must equal the signature length {width}, got "
            f"{bands} * {rows}; pick divisors of {width}."
        )
    # BEGIN SOLUTION m5: for each band, bucket items by that band's values (as bytes); every pair inside a bucket is a candidate
    pairs: set[tuple[int, int]] = set()
    for band in range(bands):
        block = np.ascontiguousarray(signatures[:, band * rows : (band + 1) * rows])
        buckets: dict[bytes, list[int]] = {}
        for item in range(n):
            buckets.setdefault(block[item].tobytes(), []).append(item)
        for members in buckets.values():
            pairs.update(itertools.combinations(members, 2))
    return pairs
    # END SOLUTION


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """``1 - (1 - s^rows)^bands``: the chance a pair of Jaccard ``s`` is a candidate."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def lsh_threshold(bands: int, rows: int) -> float:
    """``(1/bands)^(1/rows)``: about where the S-curve rises fastest."""
    return (1.0 / bands) ** (1.0 / rows)


def exact_similar_pairs(
    sets: Sequence[np.ndarray], threshold: float
) -> dict[tuple[int, int], float]:
    """Every pair ``i < j`` with Jaccard >= ``threshold``, by sparse products (given).

    The ground truth LSH is measured against: an item-by-shingle 0/1 matrix
    X, intersections ``X X^T``, unions ``|A| + |B| - |A ∩ B|``. Only pairs
    that share a shingle are ever formed.
    """
    vocabulary: dict[int, int] = {}
    rows, cols = [], []
    for item, ids in enumerate(sets):
        for x in np.asarray(ids).tolist():
            rows.append(item)
            cols.append(vocabulary.setdefault(x, len(vocabulary)))
    x = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), (rows, cols)),
        shape=(len(sets), len(vocabulary)),
    )
    sizes = np.asarray(x.sum(axis=1)).ravel()
    inter = sparse.triu(x @ x.T, k=1).tocoo()
    jaccard = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    keep = jaccard >= threshold
    return {
        (int(i), int(j)): float(s)
        for i, j, s in zip(inter.row[keep], inter.col[keep], jaccard[keep], strict=True)
    }

"""m5 — rolling hashes against hashing each window from scratch; searches and
repeats against brute force, with a tiny modulus so hash collisions are
common; MinHash against its definition; LSH candidates against a pair-by-pair
band comparison, and its recall on the catalogue against exact Jaccard.
"""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labs.algorithms import minhash, rolling_hash
from labs.algorithms.minhash import (
    PRIME,
    candidate_probability,
    exact_similar_pairs,
    hash_family,
    lsh_candidates,
    shingle_ids,
    shingles,
    signature,
    signatures,
)
from labs.algorithms.rolling_hash import (
    find_all,
    polynomial_hash,
    repeated_substrings,
    window_hashes,
)

TEXT = st.text(alphabet="ab c", max_size=30)
MODULI = st.sampled_from([2, 3, 7, 97, 1_000_003, (1 << 61) - 1])


@given(text=TEXT, length=st.integers(1, 8), base=st.integers(2, 300), modulus=MODULI)
def test_rolling_equals_hashing_each_window(text, length, base, modulus):
    expected = [
        polynomial_hash(text[i : i + length], base, modulus)
        for i in range(len(text) - length + 1)
    ]
    assert window_hashes(text, length, base, modulus) == expected


@given(
    pattern=st.text(alphabet="ab", min_size=1, max_size=4), text=TEXT, modulus=MODULI
)
def test_find_all_equals_brute_force_even_when_hashes_collide(pattern, text, modulus):
    expected = [i for i in range(len(text)) if text.startswith(pattern, i)]
    assert find_all(pattern, text, modulus=modulus) == expected


def test_overlapping_matches_and_a_forced_collision():
    assert find_all("aa", "aaaa") == [0, 1, 2]
    # modulus 2 with an odd base: every window of equal parity sum collides
    assert find_all("ab", "baabba", base=3, modulus=2) == [2]
    with pytest.raises(ValueError, match="empty"):
        find_all("", "abc")


@given(
    texts=st.lists(st.text(alphabet="abc", max_size=12), max_size=6),
    length=st.integers(1, 4),
    modulus=MODULI,
)
def test_repeated_substrings_equal_brute_force(texts, length, modulus):
    holders: dict[str, set[int]] = {}
    for number, text in enumerate(texts):
        for i in range(len(text) - length + 1):
            holders.setdefault(text[i : i + length], set()).add(number)
    expected = {s: len(n) for s, n in sorted(holders.items()) if len(n) > 1}
    got = repeated_substrings(texts, length, modulus=modulus)
    assert got == expected
    assert list(got) == sorted(got)


def test_boilerplate_in_the_catalogue(cat):
    phrase = "Free returns within 30 days."
    holding = [d for d in cat.descriptions if phrase in d]
    assert sum(1 for d in cat.descriptions if find_all(phrase, d)) == len(holding) > 50
    shared = repeated_substrings(cat.descriptions[:120], 28)
    assert phrase in shared and shared[phrase] == sum(
        phrase in d for d in cat.descriptions[:120]
    )


# --- MinHash and LSH ----------------------------------------------------------------------------
@given(
    ids=st.sets(st.integers(0, PRIME - 1), min_size=1, max_size=20),
    seed=st.integers(0, 99),
)
def test_signature_is_the_minimum_hash_per_function(ids, seed):
    a, b = hash_family(16, seed)
    expected = [
        min((int(ak) * x + int(bk)) % PRIME for x in ids)
        for ak, bk in zip(a, b, strict=False)
    ]
    got = signature(np.array(sorted(ids)), a, b)
    assert got.tolist() == expected


def test_signatures_estimate_jaccard_on_the_catalogue(cat):
    sets = [shingle_ids(shingles(d)) for d in cat.descriptions[:300]]
    sig = signatures(sets, *hash_family(256, seed=1))
    pairs = exact_similar_pairs(sets, 0.0)
    for (i, j), exact in list(pairs.items())[:400]:
        se = (exact * (1 - exact) / 256) ** 0.5
        assert abs(np.mean(sig[i] == sig[j]) - exact) <= 4.5 * se + 1e-9, (i, j)


@st.composite
def banded(draw):
    bands, rows = draw(st.sampled_from([(2, 3), (3, 2), (4, 1), (1, 4), (2, 2)]))
    n = draw(st.integers(0, 12))
    values = draw(
        st.lists(
            st.integers(0, 2), min_size=n * bands * rows, max_size=n * bands * rows
        )
    )
    return np.array(values, dtype=np.int64).reshape(n, bands * rows), bands, rows


@given(case=banded())
def test_candidates_equal_a_band_by_band_comparison(case):
    sig, bands, rows = case
    expected = {
        (i, j)
        for i, j in itertools.combinations(range(len(sig)), 2)
        if any(
            (
                sig[i, k * rows : (k + 1) * rows] == sig[j, k * rows : (k + 1) * rows]
            ).all()
            for k in range(bands)
        )
    }
    assert lsh_candidates(sig, bands, rows) == expected


def test_lsh_finds_the_near_duplicates_at_the_rate_theory_predicts(cat):
    sets = [shingle_ids(shingles(d)) for d in cat.descriptions]
    sig = signatures(sets, *hash_family(128, seed=0))
    truth = exact_similar_pairs(sets, 0.5)
    for bands, rows in ((32, 4), (16, 8)):
        found = lsh_candidates(sig, bands, rows)
        recall = sum(p in found for p in truth) / len(truth)
        expected = np.mean(
            [candidate_probability(s, bands, rows) for s in truth.values()]
        )
        assert abs(recall - expected) < 0.12, (bands, rows, recall, expected)
        assert len(found) < 0.05 * len(sets) ** 2 / 2  # far fewer than all pairs
    with pytest.raises(ValueError, match="bands \\* rows"):
        lsh_candidates(sig, 10, 10)


def test_docstring_examples_hold():
    for module in (rolling_hash, minhash):
        failed, _ = doctest.testmod(module)
        assert failed == 0, f"{module.__name__}: {failed} docstring examples fail"

"""m2 — streaming top-k against sorted() and heapq.nlargest; reservoir sampling
checked for uniformity with scipy's chi-square test.

The reservoir tests are seeded, so they reproduce exactly; the thresholds
(p > 0.001) would reject a correct sampler about once in a thousand seeds.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from labs.dsa_for_ml.reservoir import Reservoir, reservoir_sample
from labs.dsa_for_ml.topk import TopK, heavy_hitters, top_k


def test_memory_stays_at_k_on_a_long_stream():
    rng = random.Random(1)
    stream = [rng.random() for _ in range(20_000)]
    best = TopK(7)
    for i, value in enumerate(stream):
        best.push(value)
        assert len(best) == min(i + 1, 7)
    assert best.items() == sorted(stream, reverse=True)[:7]
    assert best.seen == len(stream)
    with pytest.raises(ValueError, match="k must be"):
        TopK(-1)


@given(values=st.lists(st.integers(-5, 5), max_size=60), k=st.integers(0, 70))
def test_top_k_equals_sorted_and_nlargest(values, k):
    expected = sorted(values, reverse=True)[:k]
    assert top_k(values, k) == expected == heapq.nlargest(k, values)


@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.text(max_size=2)), max_size=50),
    k=st.integers(0, 10),
)
def test_ties_go_to_the_item_seen_first(rows, k):
    # Only the score is compared; equal scores keep stream order (stable sort).
    def score(row):
        return row[0]

    expected = sorted(rows, key=score, reverse=True)[:k]
    assert top_k(iter(rows), k, key=score) == expected
    assert expected == heapq.nlargest(k, rows, key=score)


@given(stream=st.lists(st.sampled_from("abcdefg"), max_size=80), k=st.integers(0, 9))
def test_heavy_hitters_equal_counter_most_common(stream, k):
    assert heavy_hitters(stream, k) == Counter(stream).most_common(k)


def test_trending_items_per_hour_on_shopstream(tiny_events):
    hour = tiny_events["event_us"] // 3_600_000_000
    for h in sorted(set(hour.tolist()))[::12]:  # every 12th hour of the 3 days
        items = tiny_events.loc[hour == h, "item_id"].tolist()
        got = heavy_hitters(items, 5)
        assert got == Counter(items).most_common(5)
        counts = pd.Series(items).value_counts()
        assert [c for _, c in got] == counts.iloc[:5].tolist()


# --- reservoir sampling ------------------------------------------------------------


def test_short_streams_are_kept_whole_and_samples_are_distinct_items():
    rng = random.Random(0)
    assert reservoir_sample(range(3), 5, rng) == [0, 1, 2]
    for n in (5, 6, 50):
        sample = reservoir_sample(range(n), 5, rng)
        assert len(sample) == 5 and len(set(sample)) == 5
        assert set(sample) <= set(range(n))
    sampler = Reservoir(4, random.Random(0))
    for i in range(1_000):
        sampler.add(i)
        assert len(sampler) == min(i + 1, 4)
    assert sampler.seen == 1_000
    with pytest.raises(ValueError, match="k >= 1"):
        Reservoir(0, random.Random(0))


def test_every_item_is_equally_likely_to_be_kept():
    n, k, runs = 30, 6, 6_000
    rng = random.Random(2024)
    inclusion = Counter()
    for _ in range(runs):
        inclusion.update(reservoir_sample(range(n), k, rng))
    observed = [inclusion[i] for i in range(n)]  # expected runs * k / n = 1,200 each
    result = stats.chisquare(observed)
    assert result.pvalue > 1e-3, (result, observed)
    # The first and the last items are the classic victims of an off-by-one.
    assert abs(observed[0] - 1_200) < 150 and abs(observed[-1] - 1_200) < 150


def test_every_subset_is_equally_likely():
    n, k, runs = 6, 2, 6_000
    rng = random.Random(7)
    subsets = Counter(
        frozenset(reservoir_sample(range(n), k, rng)) for _ in range(runs)
    )
    everything = [frozenset(s) for s in itertools.combinations(range(n), k)]
    assert set(subsets) == set(everything)
    result = stats.chisquare([subsets[s] for s in everything])  # 400 expected each
    assert result.pvalue > 1e-3, result

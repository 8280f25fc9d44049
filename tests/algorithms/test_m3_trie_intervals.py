"""m3 — trie completions against a brute-force filter and sort of the search
log; merged intervals, live counts and the peak against a scan over every
integer instant, half-open bounds and touching intervals included.
"""

from __future__ import annotations

import doctest
import itertools
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labs.algorithms import intervals, trie
from labs.algorithms.intervals import active_counts, merge_intervals, peak_concurrency
from labs.algorithms.shop import SESSION_TIMEOUT_US
from labs.algorithms.trie import Trie

WORDS = st.text(alphabet="abc", min_size=1, max_size=4)


def _brute_top_k(counts, prefix, k):
    found = [(q, c) for q, c in counts.items() if q.startswith(prefix)]
    return sorted(found, key=lambda qc: (-qc[1], qc[0]))[:k]


@given(
    searches=st.lists(st.tuples(WORDS, st.integers(1, 3)), max_size=30),
    prefix=st.text(alphabet="abc", max_size=3),
    k=st.integers(0, 8),
)
def test_top_k_equals_brute_force_with_ties_alphabetical(searches, prefix, k):
    box, counts = Trie(), Counter()
    for query, count in searches:
        box.insert(query, count)
        counts[query] += count
    assert box.top_k(prefix, k) == _brute_top_k(counts, prefix, k)
    assert box.queries == len(counts)
    for query in counts:
        assert box.count(query) == counts[query]


def test_the_prefix_itself_repeats_and_ties():
    box = Trie()
    for query in ["shoe", "shoes", "shoes", "shirt", "sh", "shoe"]:
        box.insert(query)
    assert box.top_k("sho", 5) == [("shoe", 2), ("shoes", 2)]  # a tie: alphabetical
    assert box.top_k("sh", 2) == [("shoe", 2), ("shoes", 2)]
    assert box.top_k("sh", 9)[-2:] == [("sh", 1), ("shirt", 1)]  # "sh" was searched
    assert box.top_k("x", 3) == [] and box.top_k("s", 0) == []
    with pytest.raises(ValueError, match="non-empty"):
        box.insert("")


def test_autocomplete_on_the_search_log(cat):
    box = Trie()
    for query, count in cat.queries.items():
        box.insert(query, count)
    prefixes = {q[:n] for q in cat.queries for n in (1, 2, 5)}
    for prefix in sorted(prefixes)[::3]:
        assert box.top_k(prefix, 5) == _brute_top_k(cat.queries, prefix, 5), prefix


# --- intervals ---------------------------------------------------------------------------
SPANS = st.lists(
    st.tuples(st.integers(0, 20), st.integers(1, 6)).map(lambda s: (s[0], s[0] + s[1])),
    max_size=12,
)


def _covered(spans):
    return {t for start, end in spans for t in range(start, end)}


def _live(spans, t):
    return sum(start <= t < end for start, end in spans)


@given(spans=SPANS)
def test_merge_equals_the_runs_of_covered_instants(spans):
    merged = merge_intervals(spans)
    assert _covered(merged) == _covered(spans)
    assert all(
        a_end < b_start for (_, a_end), (b_start, _) in itertools.pairwise(merged)
    )
    assert merged == sorted(merged)


def test_touching_intervals_merge_and_contained_ones_vanish():
    assert merge_intervals([(0, 40), (40, 50)]) == [(0, 50)]  # no gap: one session
    assert merge_intervals([(0, 40), (41, 50)]) == [(0, 40), (41, 50)]
    assert merge_intervals([(5, 8), (0, 30), (10, 12)]) == [(0, 30)]
    assert merge_intervals([]) == []
    with pytest.raises(ValueError, match="start < end"):
        merge_intervals([(3, 3)])


@given(spans=SPANS, times=st.lists(st.integers(-1, 28), max_size=15))
def test_live_counts_equal_a_scan_at_every_time(spans, times):
    assert active_counts(spans, times) == [_live(spans, t) for t in times]


def test_a_session_is_over_at_its_end():
    sessions = [(0, 10), (10, 20), (5, 12)]
    assert active_counts(sessions, [10, 9, 20, 0, 12]) == [2, 2, 0, 1, 1]


@given(spans=SPANS)
def test_peak_equals_the_busiest_start_ends_first_at_a_tie(spans):
    if not spans:
        assert peak_concurrency(spans) == (0, None)
        return
    instants = sorted({start for start, _ in spans})
    best = max(_live(spans, t) for t in instants)
    first = min(t for t in instants if _live(spans, t) == best)
    assert peak_concurrency(spans) == (best, first)


def test_requests_merge_into_thirty_minute_sessions(shop):
    for user, spans in list(shop.request_intervals.items())[:300]:
        starts = sorted(start for start, _ in spans)
        expected = 1 + sum(
            b - a > SESSION_TIMEOUT_US for a, b in itertools.pairwise(starts)
        )
        merged = merge_intervals(spans)
        assert len(merged) == expected, user
        assert (
            merged[0][0] == starts[0]
            and merged[-1][1] == starts[-1] + SESSION_TIMEOUT_US
        )


def test_docstring_examples_hold():
    for module in (trie, intervals):
        failed, _ = doctest.testmod(module)
        assert failed == 0, f"{module.__name__}: {failed} docstring examples fail"

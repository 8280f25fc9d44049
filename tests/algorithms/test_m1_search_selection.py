"""m1 — lower and upper bound against ``bisect``; binary search on the answer
against a linear scan, with the questions it asks counted; quickselect against
``sorted`` and ``numpy.partition``, duplicates included.
"""

from __future__ import annotations

import bisect
import doctest
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labs.algorithms import search, selection
from labs.algorithms.search import (
    count_between,
    lower_bound,
    max_calls,
    smallest_batch_within,
    smallest_passing,
    upper_bound,
)
from labs.algorithms.selection import kth_largest, percentile

# Few distinct values, so runs of equal values (the ties) are the common case.
SORTED = st.lists(st.integers(0, 6), max_size=40).map(sorted)


@given(values=SORTED, target=st.integers(-1, 7))
def test_bounds_equal_bisect_on_runs_of_ties(values, target):
    assert lower_bound(values, target) == bisect.bisect_left(values, target)
    assert upper_bound(values, target) == bisect.bisect_right(values, target)
    assert upper_bound(values, target) - lower_bound(values, target) == values.count(
        target
    )


@given(values=SORTED, target=st.integers(-1, 7), data=st.data())
def test_bounds_search_only_inside_lo_hi(values, target, data):
    lo = data.draw(st.integers(0, len(values)))
    hi = data.draw(st.integers(lo, len(values)))
    assert lower_bound(values, target, lo, hi) == bisect.bisect_left(
        values, target, lo, hi
    )
    assert upper_bound(values, target, lo, hi) == bisect.bisect_right(
        values, target, lo, hi
    )


def test_bounds_at_the_edges_and_bad_ranges():
    assert lower_bound([], 3) == upper_bound([], 3) == 0
    assert lower_bound([1, 2, 3], 9) == upper_bound([1, 2, 3], 9) == 3  # past the end
    assert lower_bound([1, 2, 3], 0) == upper_bound([1, 2, 3], 0) == 0
    assert lower_bound([5, 5, 5], 5) == 0 and upper_bound([5, 5, 5], 5) == 3
    with pytest.raises(ValueError, match="lo <= hi"):
        lower_bound([1, 2], 1, lo=2, hi=1)


def test_impressions_per_hour_equal_searchsorted(shop):
    times = np.asarray(shop.event_us)
    hour = 3_600_000_000
    for start in range(int(times[0]), int(times[-1]), 7 * hour):
        expected = int(np.searchsorted(times, start + hour - 1, side="right")) - int(
            np.searchsorted(times, start, side="left")
        )
        assert count_between(shop.event_us, start, start + hour - 1) == expected
    # an exact event time sits on both bounds
    t = shop.event_us[len(times) // 2]
    assert count_between(shop.event_us, t, t) == int((times == t).sum()) >= 1


# --- binary search on the answer ---------------------------------------------------


def _scan(lo, hi, passes):
    return next((x for x in range(lo, hi + 1) if passes(x)), None)


@given(
    lo=st.integers(-20, 20),
    width=st.integers(0, 300),
    threshold=st.integers(-30, 340),
)
def test_smallest_passing_equals_a_scan_with_few_questions(lo, width, threshold):
    hi = lo + width
    asked = []

    def passes(x):
        asked.append(x)
        return x >= threshold

    expected = _scan(lo, hi, lambda x: x >= threshold)
    assert smallest_passing(lo, hi, passes) == expected
    assert len(asked) <= max_calls(lo, hi), f"asked {len(asked)} questions: {asked}"
    assert all(lo <= x <= hi for x in asked), f"asked outside [{lo}, {hi}]: {asked}"


@given(
    lo=st.integers(-20, 20),
    width=st.integers(0, 300),
    threshold=st.integers(-30, 340),
)
def test_smallest_passing_is_none_only_when_nothing_passes(lo, width, threshold):
    hi = lo + width
    got = smallest_passing(lo, hi, lambda x: x >= threshold)
    assert got == _scan(lo, hi, lambda x: x >= threshold)
    if got is not None:
        assert got >= threshold and (got == lo or got - 1 < threshold)


def test_smallest_batch_within_a_budget_equals_a_scan():
    rows, overhead, per_row = 1_000_000, 5e-6, 3e-9
    for slack in (0.02, 0.25, 1.0, 5.0):
        budget = (1 + slack) * rows * per_row

        def fits(b, budget=budget):
            return -(-rows // b) * overhead + rows * per_row <= budget

        got = smallest_batch_within(rows, budget, overhead, per_row, 100_000)
        assert got == _scan(1, 100_000, fits), slack
    assert smallest_batch_within(rows, rows * per_row, overhead, per_row, 10) is None
    with pytest.raises(ValueError, match="empty range"):
        smallest_passing(5, 4, bool)


# --- quickselect ---------------------------------------------------------------------


@given(values=st.lists(st.integers(0, 5), min_size=1, max_size=50), data=st.data())
def test_kth_largest_counts_duplicates_like_sorted(values, data):
    k = data.draw(st.integers(1, len(values)))
    before = list(values)
    got = kth_largest(values, k, random.Random(data.draw(st.integers(0, 9))))
    assert got == sorted(values, reverse=True)[k - 1]
    n = len(values)
    assert got == np.partition(np.array(values), n - k)[n - k]
    assert values == before, "kth_largest must not reorder its input"


def test_every_rank_of_an_all_equal_list_and_errors():
    assert [kth_largest([4] * 7, k) for k in range(1, 8)] == [4] * 7
    values = [3, 1, 2]
    assert [kth_largest(values, k) for k in (1, 2, 3)] == [3, 2, 1]
    for bad in (0, 4, 1.5, True):
        with pytest.raises(ValueError, match="k must be"):
            kth_largest(values, bad)


def test_p99_ingestion_delay_equals_numpy_nearest_rank(shop):
    delays = shop.delays_ms
    assert len(set(delays)) < len(delays)  # repeats are real
    for q in (1, 50, 90, 99, 99.9, 100):
        expected = np.percentile(delays, q, method="inverted_cdf")
        assert percentile(delays, q) == expected, q
    sample = delays[:2_000]
    for k in (1, 20, 1_000, 2_000):
        assert kth_largest(sample, k) == sorted(sample, reverse=True)[k - 1]


def test_docstring_examples_hold():
    for module in (search, selection):
        failed, _ = doctest.testmod(module)
        assert failed == 0, f"{module.__name__}: {failed} docstring examples fail"

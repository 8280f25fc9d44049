"""m4 — dynamic programming against brute force on small inputs: edit distance
against a memoised recursion, published values and ``difflib``'s (not
minimal) edit scripts; knapsack against every subset; LIS against every
subsequence; Viterbi against every state path, and on a sequence long
enough to underflow plain probabilities.
"""

from __future__ import annotations

import difflib
import doctest
import itertools
from functools import cache

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labs.algorithms import feature_budget, hmm, lis, spelling
from labs.algorithms.feature_budget import knapsack
from labs.algorithms.hmm import HMM, INTENT_HMM, path_log_probability, viterbi
from labs.algorithms.lis import lis_length_quadratic, longest_increasing_subsequence
from labs.algorithms.spelling import (
    alignment,
    apply,
    correct,
    distance_table,
    edit_distance,
)

SHORT = st.text(alphabet="abc ", max_size=7)


def _levenshtein(a, b):
    @cache
    def d(i, j):  # top-down over suffixes: shares nothing with the table
        if i == len(a) or j == len(b):
            return len(a) - i + len(b) - j
        return min(d(i + 1, j) + 1, d(i, j + 1) + 1, d(i + 1, j + 1) + (a[i] != b[j]))

    return d(0, 0)


@given(a=SHORT, b=SHORT)
def test_edit_distance_equals_the_recursion(a, b):
    assert edit_distance(a, b) == _levenshtein(a, b)
    table = distance_table(a, b)
    assert [row[0] for row in table] == list(range(len(a) + 1))
    assert table[0] == list(range(len(b) + 1))


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [  # the textbook examples (Jurafsky & Martin use unit replacement here too)
        ("kitten", "sitting", 3),
        ("saturday", "sunday", 3),
        ("intention", "execution", 5),
        ("flaw", "lawn", 2),
        ("", "abc", 3),
        ("abc", "", 3),
        ("", "", 0),
    ],
)
def test_published_distances(a, b, distance):
    assert edit_distance(a, b) == distance
    assert len([e for e in alignment(a, b) if e[0] != "keep"]) == distance


@given(a=SHORT, b=SHORT)
def test_the_alignment_is_an_optimal_edit_script(a, b):
    edits = alignment(a, b)
    assert apply(edits) == (a, b)
    for op, x, y in edits:
        assert (op == "keep") == (x == y), (op, x, y)
        assert (op == "insert") == (x == "") and (op == "delete") == (y == "")
    assert sum(op != "keep" for op, _, _ in edits) == _levenshtein(a, b)
    # difflib's script is valid but not minimal: never cheaper than ours
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    difflib_cost = sum(
        max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in opcodes if tag != "equal"
    )
    assert edit_distance(a, b) <= difflib_cost


def test_misspelled_searches_are_corrected(cat):
    typos = cat.typos(60, seed=1)
    right = sum(correct(typed, cat.vocabulary) == meant for typed, meant in typos)
    assert right >= 54, f"only {right} of 60 one-typo searches corrected"
    assert correct("navy wool sacrf", {"scarf": 3, "navy": 1, "wool": 1}) == (
        "navy wool scarf"
    )


# --- knapsack --------------------------------------------------------------------------
@given(
    items=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 9)), max_size=8),
    budget=st.integers(0, 16),
)
def test_knapsack_equals_every_subset(items, budget):
    costs = [c for c, _ in items]
    gains = [float(g) for _, g in items]
    best, chosen = knapsack(costs, gains, budget)
    brute = max(
        sum(gains[i] for i in subset)
        for r in range(len(items) + 1)
        for subset in itertools.combinations(range(len(items)), r)
        if sum(costs[i] for i in subset) <= budget
    )
    assert best == brute
    assert chosen == sorted(set(chosen)), "each item at most once, ascending"
    assert sum(costs[i] for i in chosen) <= budget
    assert sum(gains[i] for i in chosen) == best


def test_a_set_costing_exactly_the_budget_fits_and_greedy_is_not_enough():
    assert knapsack([5], [1.0], 5) == (1.0, [0])
    assert knapsack([5], [1.0], 4) == (0.0, [])
    costs, gains = [6, 5, 5], [7.0, 5.0, 5.0]  # greedy by ratio takes 6 first: 7
    assert knapsack(costs, gains, 10) == (10.0, [1, 2])
    assert feature_budget.greedy_by_ratio(costs, gains, 10)[0] == 7.0
    with pytest.raises(ValueError, match="non-negative integer"):
        knapsack([1.5], [1.0], 3)


# --- longest increasing subsequence -----------------------------------------------------------
def _longest_brute(values):
    for r in range(len(values), 0, -1):
        for subset in itertools.combinations(values, r):
            if all(x < y for x, y in itertools.pairwise(subset)):
                return r
    return 0


@given(values=st.lists(st.integers(0, 5), max_size=11))
def test_lis_is_strictly_increasing_and_longest(values):
    run = longest_increasing_subsequence(values)
    assert run == sorted(set(run)), f"indices must ascend: {run}"
    assert all(values[i] < values[j] for i, j in itertools.pairwise(run)), run
    assert len(run) == _longest_brute(values) == lis_length_quadratic(values)


def test_lis_on_the_prices_users_click(shop):
    for prices in list(shop.click_prices.values())[:150]:
        run = longest_increasing_subsequence(prices)
        assert len(run) == lis_length_quadratic(prices)
        assert all(prices[i] < prices[j] for i, j in itertools.pairwise(run))
    assert longest_increasing_subsequence([]) == []
    assert len(longest_increasing_subsequence([2.5, 2.5, 2.5])) == 1


# --- Viterbi ------------------------------------------------------------------------------------
def _rows(rng, shape):
    values = rng.random(shape) + 0.05
    return values / values.sum(axis=-1, keepdims=True)


@given(
    seed=st.integers(0, 10_000),
    states=st.integers(2, 3),
    symbols=st.integers(2, 3),
    length=st.integers(1, 6),
)
def test_viterbi_equals_the_best_of_every_path(seed, states, symbols, length):
    rng = np.random.default_rng(seed)
    start = _rows(rng, states) ** 3  # skewed, so ignoring it shows
    model = HMM(
        tuple(f"s{i}" for i in range(states)),
        tuple(f"o{i}" for i in range(symbols)),
        start / start.sum(),
        _rows(rng, (states, states)),
        _rows(rng, (states, symbols)),
    )
    observed = rng.integers(0, symbols, length).tolist()
    best = max(
        itertools.product(range(states), repeat=length),
        key=lambda p: path_log_probability(model, p, observed),
    )
    path, log_p = viterbi(model, observed)
    assert log_p == pytest.approx(path_log_probability(model, best, observed))
    assert log_p == pytest.approx(path_log_probability(model, path, observed))


def test_viterbi_survives_sequences_that_underflow_plain_floats():
    model = HMM(
        ("quiet", "busy"),
        ("low", "high"),
        np.array([0.5, 0.5]),
        np.array([[0.9, 0.1], [0.1, 0.9]]),
        np.array([[0.8, 0.2], [0.2, 0.8]]),
    )
    observed = [0] * 1_500 + [1] * 1_500  # a best path of probability ~1e-700
    path, log_p = viterbi(model, observed)
    assert path == observed
    assert np.isfinite(log_p) and log_p < -900
    assert log_p == pytest.approx(path_log_probability(model, path, observed))


def test_intent_of_real_users(shop):
    short = [o for o in shop.intent_observations.values() if 2 <= len(o) <= 6][:25]
    for observed in short:
        _path, log_p = viterbi(INTENT_HMM, observed)
        best = max(
            path_log_probability(INTENT_HMM, p, observed)
            for p in itertools.product(range(3), repeat=len(observed))
        )
        assert log_p == pytest.approx(best)
    with pytest.raises(ValueError, match="empty"):
        viterbi(INTENT_HMM, [])


def test_docstring_examples_hold():
    for module in (spelling, feature_budget, lis, hmm):
        failed, _ = doctest.testmod(module)
        assert failed == 0, f"{module.__name__}: {failed} docstring examples fail"

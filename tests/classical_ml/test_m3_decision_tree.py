"""m3: impurity, the best split, and a CART tree grown under limits.

Oracles: scipy's entropy, a brute-force loop over every (feature, threshold),
and scikit-learn's DecisionTreeClassifier (root gain and held-out accuracy).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import entropy as scipy_entropy
from sklearn.tree import DecisionTreeClassifier as SkTree

from labs.classical_ml.data import split
from labs.classical_ml.tree import (
    DecisionTreeClassifier,
    Split,
    best_split,
    impurity,
)

counts_strategy = arrays(
    np.int64, st.integers(1, 6), elements=st.integers(0, 50)
).filter(lambda c: c.sum() > 0)


@given(counts=counts_strategy)
def test_impurity_matches_textbook_formulas(counts):
    p = counts / counts.sum()
    assert impurity(counts, "gini") == pytest.approx(1 - sum(q * q for q in p))
    assert impurity(counts, "entropy") == pytest.approx(
        scipy_entropy(counts, base=2), abs=1e-12
    )


def test_impurity_is_row_wise_and_zero_when_pure():
    counts = np.array([[5, 5], [10, 0], [3, 1]])
    np.testing.assert_allclose(impurity(counts, "gini"), [0.5, 0.0, 0.375])
    np.testing.assert_allclose(
        impurity(counts, "entropy"), [1.0, 0.0, 0.8112781244591328]
    )


def brute_force_best_gain(X, y, n_classes, criterion, min_leaf):
    """Every feature, every midpoint threshold, plain Python loops."""

    def imp(labels):
        counts = np.bincount(labels, minlength=n_classes)
        p = counts / counts.sum()
        if criterion == "gini":
            return 1.0 - float((p**2).sum())
        return -sum(q * np.log2(q) for q in p if q > 0)

    parent, best = imp(y), None
    for j in range(X.shape[1]):
        values = sorted(set(X[:, j]))
        for lo, hi in itertools.pairwise(values):
            t = (lo + hi) / 2
            left, right = y[X[:, j] <= t], y[X[:, j] > t]
            if len(left) < min_leaf or len(right) < min_leaf:
                continue
            n = len(y)
            gain = parent - (len(left) * imp(left) + len(right) * imp(right)) / n
            best = gain if best is None else max(best, gain)
    return best


@given(
    X=arrays(
        np.float64,
        st.tuples(st.integers(2, 25), st.integers(1, 3)),
        elements=st.integers(0, 4).map(float),
    ),
    data=st.data(),
    criterion=st.sampled_from(["gini", "entropy"]),
    min_leaf=st.integers(1, 4),
)
def test_best_split_equals_brute_force(X, data, criterion, min_leaf):
    y = np.array(
        data.draw(st.lists(st.integers(0, 2), min_size=len(X), max_size=len(X)))
    )
    expected = brute_force_best_gain(X, y, 3, criterion, min_leaf)
    split_ = best_split(X, y, 3, criterion, min_leaf)
    if expected is None:
        assert split_ is None
        return
    assert split_ is not None
    assert split_.gain == pytest.approx(expected, abs=1e-12)
    left = X[:, split_.feature] <= split_.threshold
    assert min_leaf <= left.sum() <= len(y) - min_leaf  # the split is admissible
    values = sorted(set(X[:, split_.feature]))
    midpoints = {(lo + hi) / 2 for lo, hi in itertools.pairwise(values)}
    assert split_.threshold in midpoints  # halfway between two distinct values


def test_thresholds_are_midpoints_and_ties_go_to_the_first_feature():
    # Both features separate the last row perfectly (equal gains); the first
    # feature's cut is its last one, the second's (negated) its first one.
    X = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, -2.0], [3.0, -3.0]])
    y = np.array([0, 0, 0, 1])
    assert best_split(X, y, 2, "gini") == Split(0, 2.5, 0.375)
    # Within a feature, equal gains go to the first threshold.
    tied = best_split(
        np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 1, 1, 0]), 2, "gini"
    )
    assert tied is not None and tied.threshold == 0.5
    # Unseen values in the gap: below the midpoint go left, above it right,
    # exactly where scikit-learn's stump sends them.
    X_train, y_train = np.array([[0.0], [10.0]]), np.array([0, 1])
    X_new = np.array([[4.0], [4.99], [5.0], [5.01], [6.0]])
    ours = DecisionTreeClassifier(max_depth=1).fit(X_train, y_train)
    sk = SkTree(max_depth=1).fit(X_train, y_train)
    np.testing.assert_array_equal(ours.predict(X_new), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(ours.predict(X_new), sk.predict(X_new))


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
@pytest.mark.parametrize("criterion", ["gini", "entropy"])
def test_root_gain_equals_sklearn(datasets, name, criterion):
    X, y = datasets[name]
    ref = SkTree(criterion=criterion, max_depth=1, random_state=0).fit(X, y).tree_
    left, right, n = ref.children_left[0], ref.children_right[0], ref.n_node_samples
    sk_gain = (
        ref.impurity[0]
        - (n[left] * ref.impurity[left] + n[right] * ref.impurity[right]) / n[0]
    )
    codes = np.unique(y, return_inverse=True)[1]
    ours = best_split(X, codes, int(codes.max()) + 1, criterion)
    assert ours is not None
    assert ours.gain == pytest.approx(sk_gain, abs=1e-9)


CONFIGS = [("gini", None, 1), ("gini", 3, 1), ("entropy", 6, 5), ("entropy", None, 10)]


@pytest.mark.parametrize(("criterion", "max_depth", "min_leaf"), CONFIGS)
def test_accuracy_within_two_points_of_sklearn(
    datasets, criterion, max_depth, min_leaf
):
    """Held-out accuracy averaged over 5 splits; single splits differ on ties."""
    X, y = datasets["breast_cancer"]
    ours, ref = [], []
    for seed in range(5):
        X_tr, X_va, y_tr, y_va = split(X, y, val_share=0.3, seed=seed)
        limits = dict(
            criterion=criterion, max_depth=max_depth, min_samples_leaf=min_leaf
        )
        tree = DecisionTreeClassifier(**limits).fit(X_tr, y_tr)
        ours.append((tree.predict(X_va) == y_va).mean())
        sk = SkTree(**limits, random_state=seed).fit(X_tr, y_tr)
        ref.append((sk.predict(X_va) == y_va).mean())
    assert abs(np.mean(ours) - np.mean(ref)) <= 0.02


def test_accuracy_within_two_points_of_sklearn_on_digits(datasets):
    X, y = datasets["digits"]
    X_tr, X_va, y_tr, y_va = split(X, y, val_share=0.3, seed=0)
    tree = DecisionTreeClassifier("gini", max_depth=8, min_samples_leaf=3).fit(
        X_tr, y_tr
    )
    sk = SkTree(max_depth=8, min_samples_leaf=3, random_state=0).fit(X_tr, y_tr)
    assert (
        abs((tree.predict(X_va) == y_va).mean() - (sk.predict(X_va) == y_va).mean())
        <= 0.02
    )


def test_limits_are_respected(datasets):
    X, y = datasets["wine"]
    tree = DecisionTreeClassifier(max_depth=3, min_samples_split=20, min_samples_leaf=4)
    tree.fit(X, y)
    leaves = tree.feature_ == -1
    assert tree.depth_ <= 3
    assert (tree.n_node_samples_[leaves] >= 4).all()
    assert (tree.n_node_samples_[~leaves] >= 20).all()
    # The children's counts add up to the parent's: no row is lost.
    inner = np.flatnonzero(~leaves)
    np.testing.assert_array_equal(
        tree.value_[inner],
        tree.value_[tree.left_[inner]] + tree.value_[tree.right_[inner]],
    )


@pytest.mark.parametrize("min_samples_split", [2, 3, 4, 6, 13])
def test_min_samples_split_is_the_smallest_node_that_splits(min_samples_split):
    """One feature, so no feature ties: the tree must be scikit-learn's, node for node.

    scikit-learn splits a node of exactly min_samples_split rows.
    """
    rng = np.random.default_rng(min_samples_split)
    X = np.arange(13.0)[:, None]
    y = rng.integers(0, 3, size=13)
    ours = DecisionTreeClassifier(min_samples_split=min_samples_split).fit(X, y)
    sk = SkTree(min_samples_split=min_samples_split).fit(X, y)
    assert (ours.n_leaves_, ours.depth_) == (sk.get_n_leaves(), sk.get_depth())
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X))
    inner = ours.feature_ != -1
    assert sorted(ours.threshold_[inner]) == sorted(
        sk.tree_.threshold[sk.tree_.feature >= 0]
    )


def test_unlimited_tree_fits_distinct_training_rows_perfectly(datasets):
    X, y = datasets["breast_cancer"]
    tree = DecisionTreeClassifier().fit(X, y)
    assert (tree.predict(X) == y).all()
    assert tree.depth_ == SkTree(random_state=0).fit(X, y).get_depth()


def test_a_zero_gain_split_is_still_taken_like_sklearn():
    """XOR: no single split lowers the impurity, yet depth 2 separates it."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    tree = DecisionTreeClassifier(max_depth=2).fit(X, y)
    assert tree.depth_ == 2
    np.testing.assert_array_equal(tree.predict(X), y)
    np.testing.assert_array_equal(SkTree(max_depth=2).fit(X, y).predict(X), y)


def test_predict_proba_is_the_leaf_class_share(datasets):
    X, y = datasets["iris"]
    tree = DecisionTreeClassifier(max_depth=2).fit(X, y)
    sk = SkTree(max_depth=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(tree.predict_proba(X), sk.predict_proba(X))


def test_a_deep_tree_cut_at_depth_d_is_the_max_depth_d_tree(datasets):
    """Greedy top-down growth: the limit only stops it, never changes a split."""
    from labs.classical_ml.experiments import predict_at_depth

    X, y = datasets["wine"]
    deep = DecisionTreeClassifier().fit(X, y)
    for depth in (1, 2, 3):
        limited = DecisionTreeClassifier(max_depth=depth).fit(X, y)
        np.testing.assert_array_equal(
            predict_at_depth(deep, X, depth), limited.predict(X)
        )

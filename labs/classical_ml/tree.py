"""A CART classification tree: greedy binary splits on gini or entropy.

    from labs.classical_ml.tree import DecisionTreeClassifier
    tree = DecisionTreeClassifier(criterion="gini", max_depth=4).fit(X, y)
    tree.predict(X_val), tree.depth_, tree.n_leaves_

A node with class proportions ``p_k`` has impurity

    gini(p)    = 1 - sum_k p_k^2
    entropy(p) = -sum_k p_k log2 p_k          (bits, as scikit-learn reports)

and a split into left/right children scores its **impurity decrease**

    gain = imp(parent) - (n_L / n) imp(left) - (n_R / n) imp(right).

CART tries every feature and every threshold halfway between two
consecutive distinct sorted values (``x <= t`` goes left) and keeps the
largest gain. Sorting once per feature and taking cumulative class counts
scores all n - 1 thresholds of a feature in O(n log n + n K).

Stopping rules are scikit-learn's: a node becomes a leaf when it is pure,
at ``max_depth``, has fewer than ``min_samples_split`` samples, or no split
leaves ``min_samples_leaf`` samples on each side. Like scikit-learn, a node
that may split *does* split even when the best gain is 0 (XOR-like data).
Ties between equally good splits are broken by the first feature (then the
first threshold); scikit-learn visits features in a random order, so on tied
gains the two trees can differ while scoring the same.

The fitted tree is stored in flat arrays (``feature_``, ``threshold_``,
``left_``, ``right_``, ``value_``), like ``sklearn.tree._tree.Tree``.

Run the checks with ``labkit check classical_ml`` (milestone m3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from labs.classical_ml.validation import (
    check_count,
    check_features,
    check_fitted,
    check_xy,
    encode_labels,
)

Criterion = Literal["gini", "entropy"]
LEAF = -1  # feature_/left_/right_ of a leaf


def impurity(counts: np.ndarray, criterion: Criterion) -> np.ndarray:
    """Gini or entropy (bits) of class counts, row-wise.

    Args:
        counts: class counts, shape (..., K); each row sums to n > 0.
        criterion: ``"gini"`` or ``"entropy"``.

    Returns:
        the impurity of each row, shape (...,); 0 for a pure node.
    """
    # BEGIN SOLUTION m3: turn counts into proportions; gini = 1 - sum p^2, entropy = -sum p log2 p (0 log 0 = 0)
    counts = np.asarray(counts, dtype=np.float64)
    p = counts / counts.sum(axis=-1, keepdims=True)
    if criterion == "gini":
        return 1.0 - (p**2).sum(axis=-1)
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logs).sum(axis=-1)
    # END SOLUTION


@dataclass(frozen=True)
class Split:
    """The best split of one node."""

    feature: int
    threshold: float  # x[feature] <= threshold goes left
    gain: float  # impurity decrease, weighted as in the module docstring


def best_split(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    criterion: Criterion,
    min_samples_leaf: int = 1,
) -> Split | None:
    """The split of ``(X, y)`` with the largest impurity decrease.

    Args:
        X: the node's rows, shape (n, d).
        y: their class codes in ``0..n_classes-1``, shape (n,).
        n_classes: K.
        criterion: ``"gini"`` or ``"entropy"``.
        min_samples_leaf: each side must keep at least this many rows.

    Returns:
        the best :class:`Split` (first feature, then first threshold, on
        ties), or ``None`` when no threshold is admissible (every feature
        constant on the node, or the node too small for ``min_samples_leaf``).
    """
    n, d = X.shape
    # BEGIN SOLUTION m3: sort every feature, cumulate one-hot class counts, score every admissible midpoint threshold at once
    one_hot = np.zeros((n, n_classes))
    one_hot[np.arange(n), y] = 1.0
    total = one_hot.sum(axis=0)  # (K,)
    order = np.argsort(X, axis=0, kind="stable")  # (n, d)
    xs = np.take_along_axis(X, order, axis=0)  # (n, d) each column sorted
    left = np.cumsum(one_hot[order], axis=0)[:-1]  # (n-1, d, K) counts left of each cut
    right = total - left
    n_left = np.arange(1, n)[:, None]  # (n-1, 1)
    valid = (
        (xs[:-1] < xs[1:])  # a threshold fits between two distinct values
        & (n_left >= min_samples_leaf)
        & (n - n_left >= min_samples_leaf)
    )  # (n-1, d)
    if not valid.any():
        return None
    weighted = (
        n_left * impurity(np.where(valid[..., None], left, 1.0), criterion)
        + (n - n_left) * impurity(np.where(valid[..., None], right, 1.0), criterion)
    ) / n  # (n-1, d); invalid cuts get dummy counts, masked next
    gains = np.where(valid, impurity(total, criterion) - weighted, -np.inf)
    j, i = np.unravel_index(
        int(gains.T.argmax()), (d, n - 1)
    )  # first feature, then cut
    lo, hi = xs[i, j], xs[i + 1, j]
    threshold = (lo + hi) / 2.0
    if threshold == hi:  # rounding: keep lo <= threshold < hi
        threshold = lo
    return Split(int(j), float(threshold), float(gains[i, j]))
    # END SOLUTION


class DecisionTreeClassifier:
    """A CART tree for classification (see the module docstring).

    Args:
        criterion: ``"gini"`` or ``"entropy"``.
        max_depth: the deepest level (root = 0); ``None`` grows until pure.
        min_samples_split: a node with fewer rows becomes a leaf.
        min_samples_leaf: every leaf keeps at least this many rows.

    After ``fit``: ``classes_``, ``feature_``, ``threshold_``, ``left_``,
    ``right_`` (``-1`` at leaves), ``value_`` (class counts per node, (m, K)),
    ``n_node_samples_``, ``impurity_``, ``depth_`` and ``n_leaves_``.
    """

    def __init__(
        self,
        criterion: Criterion = "gini",
        max_depth: int | None = None,
        min_samples_split: int = 2,
        min_samples_leaf: int = 1,
    ):
        if criterion not in ("gini", "entropy"):
            raise ValueError(
                f"criterion must be 'gini' or 'entropy', got {criterion!r}."
            )
        self.criterion: Criterion = criterion
        self.max_depth = (
            None if max_depth is None else check_count(max_depth, "max_depth", low=0)
        )
        self.min_samples_split = check_count(
            min_samples_split, "min_samples_split", low=2
        )
        self.min_samples_leaf = check_count(min_samples_leaf, "min_samples_leaf")
        self.classes_: np.ndarray | None = None
        self.value_: np.ndarray | None = None
        self.depth_ = 0

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> DecisionTreeClassifier:
        X, labels = check_xy(X, y)
        self.classes_, codes = encode_labels(labels)
        self.n_features_ = X.shape[1]
        self._grow(X, codes, len(self.classes_))
        return self

    def _grow(self, X: np.ndarray, y: np.ndarray, n_classes: int) -> None:
        """Grow the tree depth-first from the root; fills the flat node arrays."""
        feature: list[int] = []
        threshold: list[float] = []
        left: list[int] = []
        right: list[int] = []
        value: list[np.ndarray] = []
        node_impurity: list[float] = []
        max_depth = np.inf if self.max_depth is None else self.max_depth
        self.depth_ = 0

        def new_node(rows: np.ndarray) -> int:
            counts = np.bincount(y[rows], minlength=n_classes).astype(np.float64)
            feature.append(LEAF)
            threshold.append(np.nan)
            left.append(LEAF)
            right.append(LEAF)
            value.append(counts)
            node_impurity.append(float(impurity(counts, self.criterion)))
            return len(value) - 1

        # BEGIN SOLUTION m3: pop (node, rows, depth) from a stack; apply the stopping rules, else split on best_split and push both children
        stack = [(new_node(np.arange(len(y))), np.arange(len(y)), 0)]
        while stack:
            node, rows, depth = stack.pop()
            self.depth_ = max(self.depth_, depth)
            n = len(rows)
            if (
                depth >= max_depth
                or n < self.min_samples_split
                or n < 2 * self.min_samples_leaf
                or node_impurity[node] <= 1e-12
            ):
                continue
            split = best_split(
                X[rows], y[rows], n_classes, self.criterion, self.min_samples_leaf
            )
            if split is None:
                continue
            goes_left = X[rows, split.feature] <= split.threshold
            feature[node], threshold[node] = split.feature, split.threshold
            left[node] = new_node(rows[goes_left])
            right[node] = new_node(rows[~goes_left])
            stack.append((right[node], rows[~goes_left], depth + 1))
            stack.append((left[node], rows[goes_left], depth + 1))
        # END SOLUTION
        self.feature_ = np.array(feature, dtype=np.intp)
        self.threshold_ = np.array(threshold)
        self.left_ = np.array(left, dtype=np.intp)
        self.right_ = np.array(right, dtype=np.intp)
        self.value_ = np.array(value).reshape(-1, n_classes)
        self.n_node_samples_ = self.value_.sum(axis=1)
        self.impurity_ = np.array(node_impurity)
        self.n_leaves_ = int((self.feature_ == LEAF).sum())

    def apply(self, X: npt.ArrayLike) -> np.ndarray:
        """The leaf each row lands in, shape (n,): all rows descend level by level."""
        check_fitted(self, "value_")
        X = check_features(self, X, self.n_features_)
        node = np.zeros(len(X), dtype=np.intp)
        active = self.feature_[node] != LEAF
        while active.any():
            at = node[active]
            goes_left = X[active, self.feature_[at]] <= self.threshold_[at]
            node[active] = np.where(goes_left, self.left_[at], self.right_[at])
            active = self.feature_[node] != LEAF
        return node

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Class shares of each row's leaf, shape (n, K)."""
        leaves = self.apply(X)
        assert self.value_ is not None
        counts = self.value_[leaves]
        return counts / counts.sum(axis=1, keepdims=True)

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The majority class of each row's leaf (the smallest label on a tie)."""
        proba = self.predict_proba(X)  # raises if not fitted
        assert self.classes_ is not None
        return self.classes_[proba.argmax(axis=1)]

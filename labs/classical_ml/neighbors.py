"""k-nearest-neighbours classification by brute force, with explicit tie rules.

    from labs.classical_ml.neighbors import KNeighborsClassifier
    knn = KNeighborsClassifier(n_neighbors=5).fit(X_train, y_train)
    knn.predict(X_val), knn.predict_proba(X_val), knn.kneighbors(X_val)

"Fitting" only stores the training set; a query costs O(n d) distances plus
a partial sort, so kNN is cheap to train and expensive to serve (at scale an
approximate index such as HNSW replaces the brute force). ``k`` sets the
bias-variance trade-off: k = 1 memorises the training set (zero training
error, high variance), large k averages over a wide neighbourhood (smooth,
biased). Distances are Euclidean, so features must share a scale.

**Ties, documented.** Two kinds can occur:

- *Distance ties* at the k-th neighbour: we keep the **lower training
  index** (a stable order). scikit-learn's brute force uses an unstable
  partial sort there, and its docs warn the result then depends on the
  order of the training data; our results equal its only without such ties.
- *Vote ties* (e.g. k = 2, one vote each): the **smallest class label**
  wins, which is also what scikit-learn does (``argmax`` over ``classes_``).

Run the checks with ``labkit check classical_ml`` (milestone m4).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from labs.classical_ml.distances import squared_distances
from labs.classical_ml.validation import (
    check_count,
    check_features,
    check_fitted,
    check_xy,
    encode_labels,
)

CHUNK_ELEMENTS = 2**22  # distances per block (32 MiB): bounds memory for any n


def nearest(D: np.ndarray, k: int) -> np.ndarray:
    """The column indices of the k smallest entries of each row of ``D``.

    Ordered by (distance, column index): a distance tie goes to the lower
    index, also at the k-th place.

    Args:
        D: distances, shape (q, n), n >= k.
        k: neighbours per row.

    Returns:
        indices, shape (q, k), nearest first.
    """
    # BEGIN SOLUTION m4: partial-sort (argpartition) the k smallest per row, fall back to a stable full sort for rows with a tie at the k-th distance, then order the k by (distance, index)
    if k == D.shape[1]:
        return np.argsort(D, axis=1, kind="stable")
    part = np.argpartition(D, k - 1, axis=1)[:, :k]  # (q, k) unordered, ties arbitrary
    kth = np.take_along_axis(D, part, axis=1).max(axis=1)  # (q,) the k-th distance
    # A row is ambiguous when more than k entries are <= its k-th distance.
    ambiguous = (kth[:, None] >= D).sum(axis=1) > k
    if ambiguous.any():
        part[ambiguous] = np.argsort(D[ambiguous], axis=1, kind="stable")[:, :k]
    # Sort the k by distance, then index (lexsort's last key is the primary one).
    chosen = np.take_along_axis(D, part, axis=1)
    order = np.lexsort((part, chosen), axis=1)
    return np.take_along_axis(part, order, axis=1)
    # END SOLUTION


class KNeighborsClassifier:
    """Majority vote of the k nearest training points (uniform weights).

    Args:
        n_neighbors: k.

    After ``fit``: ``classes_`` and the stored training set.
    """

    def __init__(self, n_neighbors: int = 5):
        self.n_neighbors = check_count(n_neighbors, "n_neighbors")
        self.classes_: np.ndarray | None = None

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> KNeighborsClassifier:
        X, labels = check_xy(X, y)
        if len(X) < self.n_neighbors:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} but only {len(X)} training rows; "
                "lower n_neighbors or add data."
            )
        self.classes_, self._codes = encode_labels(labels)
        self._X = X
        return self

    def kneighbors(self, X: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, indices)`` of each query's k nearest training rows, (q, k)."""
        check_fitted(self, "classes_")
        X = check_features(self, X, self._X.shape[1])
        indices = np.empty((len(X), self.n_neighbors), dtype=np.intp)
        rows = max(1, CHUNK_ELEMENTS // len(self._X))  # queries per block
        for start in range(0, len(X), rows):
            block = squared_distances(X[start : start + rows], self._X)  # (rows, n)
            indices[start : start + rows] = nearest(block, self.n_neighbors)
        diff = X[:, None, :] - self._X[indices]  # (q, k, d) exact, no expansion
        return np.sqrt((diff**2).sum(axis=2)), indices

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """The share of the k neighbours in each class, shape (q, K)."""
        _, indices = self.kneighbors(X)
        assert self.classes_ is not None
        # BEGIN SOLUTION m4: count the neighbours' class codes per query row and divide by k
        votes = self._codes[indices]  # (q, k) class codes of the neighbours
        q, K = len(votes), len(self.classes_)
        cells = (np.arange(q)[:, None] * K + votes).ravel()  # flat (row, class) cell
        counts = np.bincount(cells, minlength=q * K).reshape(q, K)
        return counts / self.n_neighbors
        # END SOLUTION

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The majority class; a vote tie goes to the smallest label."""
        proba = self.predict_proba(X)
        assert self.classes_ is not None
        return self.classes_[proba.argmax(axis=1)]

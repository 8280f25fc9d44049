"""k-means: k-means++ seeding, Lloyd's iterations, the best of several inits.

    from labs.classical_ml.kmeans import KMeans
    km = KMeans(n_clusters=8, n_init=10, seed=0).fit(X)
    km.inertia_, km.cluster_centers_, km.labels_, km.predict(X_new)

k-means minimises the **inertia** ``sum_i min_j ||x_i - c_j||^2``. Lloyd's
algorithm alternates an assignment step (each point to its nearest centre,
O(n k d)) and an update step (each centre to the mean of its points, O(n d));
neither step can raise the inertia, so it converges, but only to a local
minimum that depends on the seeds. **k-means++** seeds the first centre
uniformly and each next one with probability proportional to ``D(x)^2``, the
squared distance to the nearest centre chosen so far; its expected inertia is
within O(log k) of the optimum before a single Lloyd step. Running several
seeded inits and keeping the lowest inertia is what scikit-learn's ``n_init``
does.

Run the checks with ``labkit check classical_ml`` (milestone m2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from labs.classical_ml.distances import squared_distances
from labs.classical_ml.validation import (
    check_count,
    check_features,
    check_fitted,
    check_matrix,
    check_positive,
)

Init = Literal["k-means++", "random"]


def kmeans_plusplus(
    X: np.ndarray,
    k: int,
    rng: np.random.Generator,
    n_local_trials: int | None = None,
) -> np.ndarray:
    """k-means++ seeds: ``k`` rows of ``X`` chosen with D^2 weighting.

    The first seed is a uniformly random row. Each next seed is drawn with
    probability ``D(x_i)^2 / sum_j D(x_j)^2``, ``D`` being the distance to the
    nearest seed so far (a chosen row has ``D = 0`` and is not drawn again
    while another row is farther away). The *greedy* variant (scikit-learn's
    default, from Arthur & Vassilvitskii) draws ``n_local_trials`` candidates
    that way and keeps the one that leaves the smallest potential
    ``sum_i D(x_i)^2``; ``n_local_trials=1`` is the classic algorithm. When
    every row already coincides with a seed, candidates are uniform.

    Args:
        X: the data, shape (n, d), n >= k.
        k: the number of seeds.
        rng: the random generator (its state advances).
        n_local_trials: candidates per seed; ``None`` means ``2 + floor(ln k)``.

    Returns:
        the seeds, shape (k, d).
    """
    n = len(X)
    trials = 2 + int(np.log(k)) if n_local_trials is None else n_local_trials
    # BEGIN SOLUTION m2: first seed uniform; then draw candidates with probability proportional to D(x)^2 and keep the one with the lowest potential
    seeds = np.empty(k, dtype=np.intp)
    seeds[0] = rng.integers(n)
    closest = squared_distances(X, X[seeds[:1]])[:, 0]  # (n,) D(x)^2
    for j in range(1, k):
        total = closest.sum()
        p = closest / total if total > 0 else None  # None: uniform
        candidates = rng.choice(n, size=trials, p=p)  # (t,)
        # (n, t): each row's D^2 if that candidate joined the seeds
        with_candidate = np.minimum(
            closest[:, None], squared_distances(X, X[candidates])
        )
        best = int(with_candidate.sum(axis=0).argmin())
        seeds[j] = candidates[best]
        closest = with_candidate[:, best]
    return X[seeds].copy()
    # END SOLUTION


@dataclass
class LloydResult:
    """One run of Lloyd's algorithm."""

    centers: np.ndarray  # (k, d)
    labels: np.ndarray  # (n,) index of each point's nearest centre
    inertia: float  # sum of squared distances to the assigned centres
    n_iter: int  # update steps taken
    history: list[float] = field(default_factory=list)  # inertia before each update


def lloyd(
    X: np.ndarray, centers: np.ndarray, max_iter: int = 300, tol: float = 0.0
) -> LloydResult:
    """Lloyd's iterations from ``centers`` until they stop moving.

    Each iteration assigns every point to its nearest centre and moves every
    centre to the mean of its points. A centre that loses all its points is
    moved to the point farthest from its own centre (so k clusters survive).
    Stops when no label changes, when the centres move by at most ``tol`` in
    total squared distance, or after ``max_iter`` updates; the returned labels
    and inertia always belong to the returned centres.

    Args:
        X: the data, shape (n, d).
        centers: the initial centres, shape (k, d); not modified.
        max_iter: the most update steps.
        tol: absolute threshold on ``sum_j ||c_j_new - c_j||^2``.
    """
    k = len(centers)
    # BEGIN SOLUTION m2: alternate assignment (argmin distance) and update (cluster means) until labels or centres settle
    centers = centers.copy()
    history: list[float] = []
    labels = np.full(len(X), -1)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        distances = squared_distances(X, centers)  # (n, k)
        new_labels = distances.argmin(axis=1)
        history.append(float(distances[np.arange(len(X)), new_labels].sum()))
        if np.array_equal(new_labels, labels):  # a fixed point: nothing will move
            n_iter -= 1
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=k)  # (k,)
        one_hot = np.zeros((k, len(X)))
        one_hot[labels, np.arange(len(X))] = 1.0
        sums = one_hot @ X  # (k, d)
        new_centers = sums / np.maximum(counts, 1)[:, None]
        own = distances[
            np.arange(len(X)), labels
        ]  # each point's distance to its centre
        for j in np.flatnonzero(counts == 0):
            far = int(own.argmax())
            new_centers[j] = X[far]
            own[far] = 0.0  # do not reuse it for the next empty cluster
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        if shift <= tol:
            break
    distances = squared_distances(X, centers)
    labels = distances.argmin(axis=1)
    inertia = float(distances[np.arange(len(X)), labels].sum())
    return LloydResult(centers, labels, inertia, n_iter, history)
    # END SOLUTION


class KMeans:
    """k-means with k-means++ (or random) seeding and ``n_init`` restarts.

    Args:
        n_clusters: k.
        n_init: independent seedings; the run with the lowest inertia wins.
        max_iter: the most Lloyd updates per run.
        tol: relative tolerance; like scikit-learn, the absolute threshold on
            the centre shift is ``tol * mean(var(X, axis=0))``.
        init: ``"k-means++"`` or ``"random"`` (k distinct rows, uniformly).
        n_local_trials: k-means++ candidates per seed (``None``: 2 + ln k,
            the greedy variant; 1: the classic algorithm).
        seed: seeds every random draw.

    After ``fit``: ``cluster_centers_`` (k, d), ``labels_`` (n,), ``inertia_``,
    ``n_iter_``, ``inertia_history_`` (of the winning run) and
    ``init_inertias_`` (the final inertia of every run).
    """

    def __init__(
        self,
        n_clusters: int = 8,
        n_init: int = 10,
        max_iter: int = 300,
        tol: float = 1e-4,
        init: Init = "k-means++",
        n_local_trials: int | None = None,
        seed: int = 0,
    ):
        self.n_clusters = check_count(n_clusters, "n_clusters")
        self.n_init = check_count(n_init, "n_init")
        self.max_iter = check_count(max_iter, "max_iter")
        self.tol = check_positive(tol, "tol", allow_zero=True)
        if init not in ("k-means++", "random"):
            raise ValueError(f"init must be 'k-means++' or 'random', got {init!r}.")
        self.init = init
        self.n_local_trials = (
            None
            if n_local_trials is None
            else check_count(n_local_trials, "n_local_trials")
        )
        self.seed = seed
        self.cluster_centers_: np.ndarray | None = None
        self.labels_: np.ndarray | None = None
        self.inertia_ = float("inf")
        self.n_iter_ = 0
        self.inertia_history_: list[float] = []
        self.init_inertias_: list[float] = []

    def fit(self, X: npt.ArrayLike) -> KMeans:
        X = check_matrix(X)
        if len(X) < self.n_clusters:
            raise ValueError(
                f"n_clusters={self.n_clusters} needs at least that many rows, "
                f"got {len(X)}; lower n_clusters."
            )
        rng = np.random.default_rng(self.seed)
        tol = self.tol * float(np.mean(np.var(X, axis=0)))
        best: LloydResult | None = None
        self.init_inertias_ = []
        for _ in range(self.n_init):
            if self.init == "k-means++":
                seeds = kmeans_plusplus(X, self.n_clusters, rng, self.n_local_trials)
            else:
                seeds = X[rng.choice(len(X), self.n_clusters, replace=False)].copy()
            run = lloyd(X, seeds, self.max_iter, tol)
            self.init_inertias_.append(run.inertia)
            if best is None or run.inertia < best.inertia:
                best = run
        assert best is not None
        self.cluster_centers_, self.labels_ = best.centers, best.labels
        self.inertia_, self.n_iter_ = best.inertia, best.n_iter
        self.inertia_history_ = best.history
        return self

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The index of the nearest centre for each row, shape (n,)."""
        check_fitted(self, "cluster_centers_")
        assert self.cluster_centers_ is not None
        X = check_features(self, X, self.cluster_centers_.shape[1])
        return squared_distances(X, self.cluster_centers_).argmin(axis=1)

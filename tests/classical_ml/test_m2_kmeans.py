"""m2: squared distances, k-means++ seeding, Lloyd's iterations, best of n_init.

Oracles: a brute-force broadcast for distances, a recomputation from first
principles for Lloyd's fixed point, scikit-learn's KMeans for the inertia.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import chisquare
from sklearn.cluster import KMeans as SkKMeans

from labs.classical_ml.data import load_dataset, make_blobs, standardize
from labs.classical_ml.distances import squared_distances
from labs.classical_ml.kmeans import KMeans, kmeans_plusplus, lloyd

finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False)


@given(
    A=arrays(np.float64, st.tuples(st.integers(1, 12), st.just(3)), elements=finite),
    B=arrays(np.float64, st.tuples(st.integers(1, 12), st.just(3)), elements=finite),
)
def test_squared_distances_match_brute_force(A, B):
    brute = ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=2)
    D = squared_distances(A, B)
    assert D.shape == (len(A), len(B))
    assert (D >= 0).all()
    np.testing.assert_allclose(D, brute, rtol=1e-9, atol=1e-7 * (1 + brute.max()))


def test_squared_distance_of_a_point_to_itself_is_exactly_zero_after_clipping():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 8)) * 1e4
    assert (np.diag(squared_distances(X, X)) >= 0).all()


@pytest.mark.parametrize("seed", range(5))
def test_kmeans_plusplus_puts_one_seed_in_every_separated_blob(seed):
    X, truth = make_blobs(600, 6, n_features=2, spread=0.3, box=20.0, seed=seed)
    seeds = kmeans_plusplus(X, 6, np.random.default_rng(seed))
    assert seeds.shape == (6, 2)
    # Every seed is a data point, and each lands in a different blob.
    rows = [int(np.flatnonzero((s == X).all(axis=1))[0]) for s in seeds]
    assert sorted(truth[rows]) == list(range(6))


def plusplus_probabilities(X, k, trials):
    """Exact P(seeds = (i, j, ...)) of k-means++ by enumeration (brute force).

    The first seed is uniform. Each next one: draw ``trials`` candidates
    independently with P(x) = D(x)^2 / sum D^2, D the distance to the nearest
    seed so far, and keep the candidate that leaves the lowest potential
    (the first drawn on a tie).
    """
    n = len(X)
    D2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)  # (n, n)
    out = {}

    def extend(seeds, prob):
        if len(seeds) == k:
            out[tuple(seeds)] = out.get(tuple(seeds), 0.0) + prob
            return
        closest = D2[:, seeds].min(axis=1)
        p = closest / closest.sum()
        for draw in itertools.product(range(n), repeat=trials):
            potentials = [np.minimum(closest, D2[:, c]).sum() for c in draw]
            chosen = draw[int(np.argmin(potentials))]
            extend([*seeds, chosen], prob * float(np.prod(p[list(draw)])))

    for first in range(n):
        extend([first], 1.0 / n)
    return out


@pytest.mark.parametrize("trials", [1, 2])
def test_kmeans_plusplus_draws_the_next_seed_in_proportion_to_d_squared(trials):
    """Chi-square of 6,000 seedings of 5 points against the exact law."""
    X = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
    exact = plusplus_probabilities(X, 3, trials)
    rng = np.random.default_rng(11)
    runs = 6_000
    seen = Counter()
    for _ in range(runs):
        seeds = kmeans_plusplus(X, 3, rng, n_local_trials=trials)
        seen[tuple(int(np.flatnonzero(X[:, 0] == s[0])[0]) for s in seeds)] += 1
    assert set(seen) <= set(exact), "a seed sequence the law gives probability 0"
    # Pool the rare sequences so every expected count is at least 5.
    common = [s for s, p in exact.items() if p * runs >= 5]
    observed = [seen[s] for s in common] + [runs - sum(seen[s] for s in common)]
    expected = [exact[s] * runs for s in common]
    expected.append(runs - sum(expected))
    result = chisquare(observed, expected)
    assert result.pvalue > 1e-3, (result, dict(seen))


def test_kmeans_plusplus_draws_uniformly_once_every_row_is_a_seed():
    """Three distinct rows, five seeds: after three, every D^2 is 0."""
    X = np.repeat([[0.0, 0.0], [5.0, 5.0], [9.0, 0.0]], 4, axis=0)  # (12, 2)
    for trials in (1, None):
        seeds = kmeans_plusplus(X, 5, np.random.default_rng(3), n_local_trials=trials)
        assert seeds.shape == (5, 2) and np.isfinite(seeds).all()
        assert {tuple(s) for s in seeds} == {tuple(r) for r in X}  # each row a seed
    km = KMeans(n_clusters=5, n_init=2, seed=0).fit(X)
    assert km.inertia_ == 0.0


def test_kmeans_plusplus_classic_variant_is_seeded_and_uses_data_points():
    X, _ = make_blobs(200, 4, seed=1)
    a = kmeans_plusplus(X, 4, np.random.default_rng(7), n_local_trials=1)
    b = kmeans_plusplus(X, 4, np.random.default_rng(7), n_local_trials=1)
    np.testing.assert_array_equal(a, b)
    assert len({tuple(row) for row in a}) == 4
    assert all((row == X).all(axis=1).any() for row in a)


def test_lloyd_converges_to_a_fixed_point():
    X, _ = make_blobs(500, 5, n_features=3, spread=2.0, seed=3)
    result = lloyd(X, X[:5].copy(), max_iter=300, tol=0.0)
    brute = ((X[:, None, :] - result.centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(result.labels, brute.argmin(axis=1))
    assert result.inertia == pytest.approx(brute.min(axis=1).sum(), rel=1e-9)
    for j in range(5):  # every centre is the mean of its points
        np.testing.assert_allclose(result.centers[j], X[result.labels == j].mean(0))
    history = np.array(result.history)
    assert (np.diff(history) <= 1e-9 * history[0]).all()  # inertia never rises
    assert result.inertia <= history[0]


@pytest.mark.parametrize("max_iter", [1, 2, 3])
def test_lloyd_stopped_early_reports_its_final_centres(max_iter):
    """Cut off by max_iter, the labels and inertia still belong to the centres."""
    X, _ = make_blobs(400, 4, n_features=2, spread=3.0, seed=5)
    result = lloyd(X, X[:4].copy(), max_iter=max_iter, tol=0.0)
    assert result.n_iter == max_iter == len(result.history)
    brute = ((X[:, None, :] - result.centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(result.labels, brute.argmin(axis=1))
    assert result.inertia == pytest.approx(brute.min(axis=1).sum(), rel=1e-12)
    assert result.inertia < result.history[-1]  # the last update step helped


def test_lloyd_keeps_k_clusters_when_one_empties():
    X = np.array([[0.0], [0.1], [0.2], [10.0], [10.1]])
    # Two seeds far away from every point: one of them loses all its points.
    result = lloyd(X, np.array([[5.0], [100.0], [200.0]]), max_iter=50)
    assert len(np.unique(result.labels)) == 3


def _cases():
    X_iris, _, _ = load_dataset("iris")
    X_wine, _, _ = load_dataset("wine")
    X_digits, _, _ = load_dataset("digits")
    X_blobs, _ = make_blobs(2_000, 8, n_features=5, spread=2.0, seed=1)
    return {
        "iris-3": (X_iris, 3),
        "iris-8": (X_iris, 8),
        "wine-std-3": (standardize(X_wine)[0], 3),
        "blobs-8": (X_blobs, 8),
        "digits-10": (X_digits, 10),
    }


CASES = _cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_inertia_within_one_percent_of_sklearn_best_of_ten(case):
    X, k = CASES[case]
    ours = KMeans(n_clusters=k, n_init=10, seed=0).fit(X)
    ref = SkKMeans(n_clusters=k, n_init=10, random_state=0).fit(X)
    assert ours.inertia_ <= 1.01 * ref.inertia_
    # The reported inertia is the real one for the returned centres and labels.
    brute = ((X - ours.cluster_centers_[ours.labels_]) ** 2).sum()
    assert ours.inertia_ == pytest.approx(brute, rel=1e-9)
    np.testing.assert_array_equal(ours.predict(X), ours.labels_)


def test_kmeans_plusplus_beats_random_seeding_on_average():
    X, _ = make_blobs(1_500, 12, n_features=4, spread=1.0, seed=4)
    plus = KMeans(12, n_init=10, init="k-means++", seed=0).fit(X)
    rand = KMeans(12, n_init=10, init="random", seed=0).fit(X)
    assert np.mean(plus.init_inertias_) < np.mean(rand.init_inertias_)
    assert plus.inertia_ <= rand.inertia_ * 1.0001

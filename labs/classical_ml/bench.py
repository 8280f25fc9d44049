"""``labkit bench classical_ml``: our estimators' speed relative to scikit-learn.

    labkit bench classical_ml --json                # preset small: 20,000 rows
    labkit bench classical_ml --preset tiny --json  # 2,000 rows; large: 100,000

Each task fits (or predicts with) ours and scikit-learn's estimator on the
same synthetic data, ``repeats`` times each, interleaved; figures are median
milliseconds and the ratio ours / scikit-learn (above 1: we are slower),
plus one agreement figure per task. Both sides run with one BLAS/OpenMP
thread so the comparison is like for like and steady on a shared machine.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Imported here, not inside bench(): threadpoolctl limits only the BLAS and
# OpenMP libraries already loaded when the limit is set.
from sklearn import decomposition, linear_model, naive_bayes, neighbors, tree
from sklearn.cluster import KMeans as SkKMeans

from common.results import Results
from labs.classical_ml.data import make_blobs
from labs.classical_ml.kmeans import KMeans
from labs.classical_ml.linear import LassoRegression, RidgeRegression
from labs.classical_ml.logistic import LogisticRegression, sigmoid
from labs.classical_ml.naive_bayes import GaussianNaiveBayes
from labs.classical_ml.neighbors import KNeighborsClassifier
from labs.classical_ml.pca import PCA
from labs.classical_ml.tree import DecisionTreeClassifier

log = logging.getLogger(__name__)

ROWS = {"tiny": 2_000, "small": 20_000, "large": 100_000}  # training rows per preset
N_FEATURES = 20  # columns of the synthetic design matrix
N_QUERIES = 1_000  # kNN queries per predict call
REPEATS = 5  # timed calls per side (3 for the slow tasks)


@dataclass
class Task:
    """One comparison: two zero-argument calls and how to score agreement."""

    name: str
    ours: Callable[[], Any]
    theirs: Callable[[], Any]
    agreement: Callable[[Any, Any], float]  # (our output, their output) -> figure
    agreement_name: str
    repeats: int = REPEATS
    extra: dict[str, float] | None = None  # context measured once, e.g. a baseline


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlated Gaussian features, a logistic label and a linear target."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(N_FEATURES, N_FEATURES)) / np.sqrt(N_FEATURES)
    X = rng.normal(size=(n, N_FEATURES)) @ (np.eye(N_FEATURES) + mixing)
    w = rng.normal(size=N_FEATURES)
    labels = (rng.random(n) < sigmoid(X @ w * 0.5)).astype(np.int64)
    target = X @ w + rng.normal(size=n)
    return X, labels, target


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.ravel(a) - np.ravel(b)).max() / np.abs(np.ravel(b)).max())


def tasks(n: int) -> list[Task]:
    """The comparisons, on ``n`` synthetic training rows."""
    X, labels, target = synthetic(n)
    X_query = synthetic(N_QUERIES, seed=1)[0]
    X_blobs, _ = make_blobs(n, 8, n_features=5, spread=2.0, seed=0)
    fitted_knn = KNeighborsClassifier(5).fit(X, labels)
    sk_knn = neighbors.KNeighborsClassifier(5, algorithm="brute").fit(X, labels)
    fitted_tree = DecisionTreeClassifier(max_depth=8).fit(X, labels)
    sk_tree = tree.DecisionTreeClassifier(max_depth=8, random_state=0).fit(X, labels)
    # Deep nodes hold few rows and many equally good splits; scikit-learn
    # breaks those ties by a random feature order, so two of its own seeds
    # disagree too. That is the baseline for our agreement.
    sk_tree_1 = tree.DecisionTreeClassifier(max_depth=8, random_state=1).fit(X, labels)
    sk_seed_agreement = float(
        (sk_tree.predict(X_query) == sk_tree_1.predict(X_query)).mean()
    )
    return [
        Task(
            "ridge_fit",
            lambda: RidgeRegression(1.0).fit(X, target).coef_,
            lambda: linear_model.Ridge(1.0).fit(X, target).coef_,
            _rel,
            "max rel coef diff",
        ),
        Task(
            "lasso_fit",
            lambda: LassoRegression(0.1, tol=1e-6).fit(X, target).coef_,
            lambda: linear_model.Lasso(alpha=0.1, tol=1e-8).fit(X, target).coef_,
            _rel,
            "max rel coef diff",
            repeats=3,
        ),
        Task(
            "logistic_newton_fit_vs_newton_cholesky",
            lambda: LogisticRegression(C=1.0).fit(X, labels).coef_,
            lambda: (
                linear_model.LogisticRegression(
                    C=1.0, solver="newton-cholesky", tol=1e-8
                )
                .fit(X, labels)
                .coef_[0]
            ),
            _rel,
            "max rel coef diff",
        ),
        Task(
            "logistic_newton_fit_vs_lbfgs",
            lambda: LogisticRegression(C=1.0).fit(X, labels).coef_,
            lambda: (
                linear_model.LogisticRegression(C=1.0, tol=1e-8, max_iter=1_000)
                .fit(X, labels)
                .coef_[0]
            ),
            _rel,
            "max rel coef diff",
        ),
        Task(
            "kmeans_fit_k8_3inits",
            lambda: KMeans(8, n_init=3, seed=0).fit(X_blobs).inertia_,
            lambda: SkKMeans(8, n_init=3, random_state=0).fit(X_blobs).inertia_,
            lambda a, b: a / b,
            "inertia ours / sklearn",
            repeats=3,
        ),
        Task(
            "tree_fit_depth8",
            lambda: DecisionTreeClassifier(max_depth=8).fit(X, labels).predict(X),
            lambda: (
                tree.DecisionTreeClassifier(max_depth=8, random_state=0)
                .fit(X, labels)
                .predict(X)
            ),
            lambda a, b: float((a == labels).mean() - (b == labels).mean()),
            "train accuracy diff",
            repeats=3,
        ),
        Task(
            "tree_predict_depth8",
            lambda: fitted_tree.predict(X_query),
            lambda: sk_tree.predict(X_query),
            lambda a, b: float((a == b).mean()),
            "predictions equal (share)",
            extra={"sklearn seed 0 vs seed 1 predictions equal": sk_seed_agreement},
        ),
        Task(
            "knn_predict_k5",
            lambda: fitted_knn.predict(X_query),
            lambda: sk_knn.predict(X_query),
            lambda a, b: float((a == b).mean()),
            "predictions equal (share)",
            repeats=3,
        ),
        Task(
            "gaussian_nb_fit_predict",
            lambda: GaussianNaiveBayes().fit(X, labels).predict_proba(X_query),
            lambda: naive_bayes.GaussianNB().fit(X, labels).predict_proba(X_query),
            lambda a, b: float(np.abs(a - b).max()),
            "max abs proba diff",
        ),
        Task(
            "pca_fit_transform",
            lambda: PCA(5).fit(X).explained_variance_,
            lambda: decomposition.PCA(5, svd_solver="full").fit(X).explained_variance_,
            _rel,
            "max rel explained-variance diff",
        ),
    ]


def _time(task: Task) -> dict[str, Any]:
    """Interleave the two sides so drifting machine load hits both alike."""
    ours_s, theirs_s = [], []
    ours_out = theirs_out = None
    for _ in range(task.repeats):
        start = time.perf_counter()
        ours_out = task.ours()
        ours_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs_out = task.theirs()
        theirs_s.append(time.perf_counter() - start)
    ours_ms, theirs_ms = 1e3 * np.median(ours_s), 1e3 * np.median(theirs_s)
    return {
        "ours_ms": float(ours_ms),
        "sklearn_ms": float(theirs_ms),
        "ratio": float(ours_ms / theirs_ms),
        task.agreement_name: task.agreement(ours_out, theirs_out),
        **(task.extra or {}),
        "repeats": task.repeats,
    }


def bench(results: Results, *, preset: str = "small") -> None:
    """Time every task and record medians, ratios and agreement."""
    from threadpoolctl import threadpool_limits

    if preset not in ROWS:
        raise ValueError(f"preset must be one of {sorted(ROWS)}, got {preset!r}.")
    n = ROWS[preset]
    results.add("rows", n)
    results.add("features", N_FEATURES)
    results.add("threads", 1)
    rows = []
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes from default tolerances
        for task in tasks(n):
            log.info("classical_ml bench: %s", task.name)
            figures = results.add(task.name, _time(task))
            context = "; ".join(f"{k} = {v:.3g}" for k, v in (task.extra or {}).items())
            rows.append(
                {
                    "task": task.name,
                    "ours ms": figures["ours_ms"],
                    "sklearn ms": figures["sklearn_ms"],
                    "ours / sklearn": figures["ratio"],
                    "agreement": f"{task.agreement_name} = "
                    f"{figures[task.agreement_name]:.3g}"
                    + (f" ({context})" if context else ""),
                }
            )
    slowest = max(rows, key=lambda r: r["ours / sklearn"])
    fastest = min(rows, key=lambda r: r["ours / sklearn"])
    results.text(
        f"{n:,} rows x {N_FEATURES} features (k-means: {n:,} x 5 blobs; kNN: "
        f"{N_QUERIES:,} queries), one thread each side, medians of interleaved "
        f"repeats. Slowest relative to scikit-learn: `{slowest['task']}` at "
        f"{slowest['ours / sklearn']:.2g}x its time; fastest: `{fastest['task']}` at "
        f"{fastest['ours / sklearn']:.2g}x."
    )
    results.table(rows)

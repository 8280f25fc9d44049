"""How closely each of our estimators agrees with scikit-learn, as figures.

    from labs.classical_ml.agreement import agreement_rows
    rows = agreement_rows()  # one dict per (model, data): the metric and its value

Used by ``labkit run classical_ml`` (the agreement table) and by the bench.
Every row fits ours and scikit-learn's on the same data with the same
regularisation or limits; nothing here is asserted, only measured.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn import linear_model
from sklearn.cluster import KMeans as SkKMeans
from sklearn.decomposition import PCA as SkPCA
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier as SkKNN
from sklearn.tree import DecisionTreeClassifier as SkTree

from labs.classical_ml.data import load_dataset, make_blobs, split, standardize
from labs.classical_ml.kmeans import KMeans
from labs.classical_ml.linear import LassoRegression, RidgeRegression
from labs.classical_ml.logistic import LogisticRegression
from labs.classical_ml.naive_bayes import GaussianNaiveBayes
from labs.classical_ml.neighbors import KNeighborsClassifier
from labs.classical_ml.pca import PCA
from labs.classical_ml.tree import DecisionTreeClassifier

Row = dict[str, Any]


def relative_max_diff(ours: np.ndarray, ref: np.ndarray) -> float:
    """``max |ours - ref| / max |ref|``: 0 means identical."""
    ours, ref = np.ravel(ours), np.ravel(ref)
    return float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-300))


def up_to_sign_max_diff(ours: np.ndarray, ref: np.ndarray) -> float:
    """The largest entry difference after flipping each row of ``ours`` to match."""
    signs = np.sign((ours * ref).sum(axis=1, keepdims=True))
    signs[signs == 0] = 1.0
    return float(np.abs(ours * signs - ref).max())


def row(milestone: str, model: str, data: str, metric: str, value: float) -> Row:
    return {
        "milestone": milestone,
        "model": model,
        "data": data,
        "metric": metric,
        "value": value,
    }


def linear_rows() -> list[Row]:
    """m1: ridge, lasso and logistic coefficients against scikit-learn."""
    X, y, _ = load_dataset("diabetes")
    out = []
    ridge, sk_ridge = RidgeRegression(1.0).fit(X, y), linear_model.Ridge(1.0).fit(X, y)
    out.append(
        row(
            "m1",
            "ridge alpha=1",
            "diabetes",
            "max rel coef diff",
            relative_max_diff(ridge.coef_, sk_ridge.coef_),
        )
    )
    lasso = LassoRegression(0.3, tol=1e-10).fit(X, y)
    sk_lasso = linear_model.Lasso(alpha=0.3, tol=1e-12, max_iter=100_000).fit(X, y)
    out.append(
        row(
            "m1",
            "lasso alpha=0.3",
            "diabetes",
            "max rel coef diff",
            relative_max_diff(lasso.coef_, sk_lasso.coef_),
        )
    )
    out.append(
        row(
            "m1",
            "lasso alpha=0.3",
            "diabetes",
            "zeros ours / sklearn",
            f"{int((lasso.coef_ == 0).sum())} / {int((sk_lasso.coef_ == 0).sum())}",
        )
    )
    Xb, yb, _ = load_dataset("breast_cancer")
    (Xb,) = standardize(Xb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for C, solver in ((1.0, "newton"), (0.1, "gd")):
            ours = LogisticRegression(
                C=C, solver=solver, tol=1e-10 if solver == "newton" else 1e-7
            )
            ours.fit(Xb, yb)
            for sk_solver in ("newton-cholesky", "lbfgs"):
                ref = linear_model.LogisticRegression(
                    C=C, solver=sk_solver, tol=1e-10, max_iter=10_000
                ).fit(Xb, yb)
                out.append(
                    row(
                        "m1",
                        f"logistic {solver} C={C}",
                        "breast_cancer (std)",
                        f"max rel coef diff vs {sk_solver}",
                        relative_max_diff(ours.coef_, ref.coef_[0]),
                    )
                )
    return out


def kmeans_rows() -> list[Row]:
    """m2: our best-of-10 inertia over scikit-learn's best-of-10."""
    X_digits, _, _ = load_dataset("digits")
    X_blobs, _ = make_blobs(2_000, 8, n_features=5, spread=2.0, seed=1)
    out = []
    for name, X, k in (("digits", X_digits, 10), ("blobs (8 centres)", X_blobs, 8)):
        ours = KMeans(k, n_init=10, seed=0).fit(X)
        ref = SkKMeans(k, n_init=10, random_state=0).fit(X)
        out.append(
            row(
                "m2",
                f"k-means++ k={k}, 10 inits",
                name,
                "inertia ours / sklearn",
                ours.inertia_ / ref.inertia_,
            )
        )
    return out


def tree_rows(n_splits: int = 5) -> list[Row]:
    """m3: held-out accuracy (mean over splits), ours minus scikit-learn's."""
    out = []
    for name, limits in (
        ("breast_cancer", dict(criterion="gini", max_depth=None, min_samples_leaf=1)),
        ("wine", dict(criterion="gini", max_depth=3, min_samples_leaf=1)),
        ("digits", dict(criterion="entropy", max_depth=8, min_samples_leaf=3)),
    ):
        X, y, _ = load_dataset(name)
        ours, ref, single = [], [], []
        for seed in range(n_splits):
            X_tr, X_va, y_tr, y_va = split(X, y, 0.3, seed)
            a = (
                DecisionTreeClassifier(**limits).fit(X_tr, y_tr).predict(X_va) == y_va
            ).mean()
            b = (
                SkTree(**limits, random_state=seed).fit(X_tr, y_tr).predict(X_va)
                == y_va
            ).mean()
            ours.append(a)
            ref.append(b)
            single.append(abs(a - b))
        label = f"CART {limits['criterion']} depth={limits['max_depth']}"
        out.append(
            row(
                "m3",
                label,
                name,
                f"accuracy diff, mean of {n_splits} splits (pts)",
                100 * (np.mean(ours) - np.mean(ref)),
            )
        )
        out.append(
            row("m3", label, name, "largest single-split diff (pts)", 100 * max(single))
        )
    return out


def neighbours_bayes_rows() -> list[Row]:
    """m4: prediction agreement of kNN (with and without ties) and Gaussian NB."""
    out = []
    X, y, _ = load_dataset("breast_cancer")
    X_tr, X_va, y_tr, _ = split(X, y, 0.3, 0)
    X_tr_s, X_va_s = standardize(X_tr, X_va)
    ours = KNeighborsClassifier(5).fit(X_tr_s, y_tr).predict(X_va_s)
    ref = SkKNN(5, algorithm="brute").fit(X_tr_s, y_tr).predict(X_va_s)
    out.append(
        row(
            "m4",
            "kNN k=5",
            "breast_cancer (std)",
            "predictions equal (share)",
            float((ours == ref).mean()),
        )
    )
    Xd, yd, _ = load_dataset("digits")
    Xd_tr, Xd_va, yd_tr, _ = split(Xd, yd, 0.3, 0)
    ours_knn = KNeighborsClassifier(5).fit(Xd_tr, yd_tr)
    ref_knn = SkKNN(5, algorithm="brute").fit(Xd_tr, yd_tr)
    idx = np.sort(ours_knn.kneighbors(Xd_va)[1], axis=1)
    ref_idx = np.sort(ref_knn.kneighbors(Xd_va)[1], axis=1)
    out.append(
        row(
            "m4",
            "kNN k=5",
            "digits (raw integers: ties)",
            "queries with a different neighbour set (share)",
            float((idx != ref_idx).any(axis=1).mean()),
        )
    )
    out.append(
        row(
            "m4",
            "kNN k=5",
            "digits (raw integers: ties)",
            "predictions equal (share)",
            float((ours_knn.predict(Xd_va) == ref_knn.predict(Xd_va)).mean()),
        )
    )
    for name in ("wine", "digits"):
        X, y, _ = load_dataset(name)
        X_tr, X_va, y_tr, _ = split(X, y, 0.3, 0)
        ours_nb = GaussianNaiveBayes().fit(X_tr, y_tr)
        ref_nb = GaussianNB().fit(X_tr, y_tr)
        out.append(
            row(
                "m4",
                "Gaussian NB",
                name,
                "predictions equal (share)",
                float((ours_nb.predict(X_va) == ref_nb.predict(X_va)).mean()),
            )
        )
        out.append(
            row(
                "m4",
                "Gaussian NB",
                name,
                "max abs proba diff",
                float(
                    np.abs(
                        ours_nb.predict_proba(X_va) - ref_nb.predict_proba(X_va)
                    ).max()
                ),
            )
        )
    return out


def pca_rows() -> list[Row]:
    """m5: explained variance and (sign-aligned) components against scikit-learn."""
    out = []
    for name in ("wine", "breast_cancer"):
        X, _, _ = load_dataset(name)
        (X,) = standardize(X)
        ours, ref = PCA(5).fit(X), SkPCA(5, svd_solver="full").fit(X)
        out.append(
            row(
                "m5",
                "PCA 5 components",
                f"{name} (std)",
                "max rel explained-variance diff",
                relative_max_diff(ours.explained_variance_, ref.explained_variance_),
            )
        )
        out.append(
            row(
                "m5",
                "PCA 5 components",
                f"{name} (std)",
                "max component diff up to sign",
                up_to_sign_max_diff(ours.components_, ref.components_),
            )
        )
    return out


def agreement_rows() -> list[Row]:
    """Every milestone's agreement figures, in milestone order."""
    return [
        *linear_rows(),
        *kmeans_rows(),
        *tree_rows(),
        *neighbours_bayes_rows(),
        *pca_rows(),
    ]

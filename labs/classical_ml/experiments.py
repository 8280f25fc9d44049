"""The experiments behind the interview answers, each returning plain figures.

    from labs.classical_ml import experiments
    experiments.gd_convergence()   # GD on raw vs standardised features
    experiments.depth_sweep()      # train vs validation accuracy by tree depth

``run.py`` calls these, plots them and writes what they show. Each function
uses only this lab's estimators (scikit-learn appears in ``agreement.py``),
is seeded, and returns lists/dicts of numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labs.classical_ml.data import load_dataset, make_blobs, split, standardize
from labs.classical_ml.kmeans import KMeans
from labs.classical_ml.linear import LassoRegression, RidgeRegression
from labs.classical_ml.logistic import LogisticRegression, lipschitz_constant, sigmoid
from labs.classical_ml.naive_bayes import MultinomialNaiveBayes, bag_of_words
from labs.classical_ml.neighbors import KNeighborsClassifier
from labs.classical_ml.pca import PCA
from labs.classical_ml.tree import LEAF, DecisionTreeClassifier

Figures = dict[str, Any]


def curvature(model: LogisticRegression, X: np.ndarray, lam: float) -> dict[str, float]:
    """Conditioning at the fitted optimum, the quantities that set GD's speed.

    ``condition_number`` is ``lambda_max / lambda_min`` of the Hessian there;
    ``L_over_mu`` divides GD's step bound ``L`` (module ``logistic``) by
    ``lambda_min``. GD with step ``1/L`` shrinks the gap by about
    ``1 - mu/L`` per step, so it needs on the order of ``L/mu`` steps per
    factor e.
    """
    Xt = np.column_stack([X, np.ones(len(X))])
    p = sigmoid(model.decision_function(X))
    H = Xt.T @ (Xt * (p * (1 - p))[:, None]) / len(X)
    H[:-1, :-1] += lam * np.eye(X.shape[1])
    eig = np.linalg.eigvalsh(H)
    return {
        "condition_number": float(eig[-1] / eig[0]),
        "L_over_mu": lipschitz_constant(Xt, lam) / float(eig[0]),
    }


def gd_convergence(C: float = 0.1, budget: int = 5_000) -> Figures:
    """Gradient descent on breast cancer, raw units vs standardised.

    Returns each variant's objective gap ``J - J*`` per iteration (J* from
    Newton), the iterations GD needed to reach ``max|grad| <= 1e-6`` (or
    ``None`` within ``budget``), Newton's iterations and the conditioning
    that sets GD's rate (:func:`curvature`).
    """
    X_raw, y, _ = load_dataset("breast_cancer")
    (X_std,) = standardize(X_raw)
    lam = 1.0 / (len(y) * C)
    out: Figures = {}
    for name, X in (("standardised", X_std), ("raw", X_raw)):
        newton = LogisticRegression(C=C, solver="newton", tol=1e-10).fit(X, y)
        gd = LogisticRegression(C=C, solver="gd", tol=1e-6, max_iter=budget).fit(X, y)
        best = newton.loss_history_[-1]
        out[name] = {
            "gap": [max(J - best, 1e-16) for J in gd.loss_history_],
            "gd_iterations": gd.n_iter_ if gd.converged_ else None,
            "gd_final_gap": gd.loss_history_[-1] - best,
            "newton_iterations": newton.n_iter_,
            **curvature(newton, X, lam),
            "gd_accuracy": float((gd.predict(X) == y).mean()),
            "newton_accuracy": float((newton.predict(X) == y).mean()),
        }
    out["budget"] = budget
    return out


def regularisation_path(alphas: np.ndarray | None = None) -> Figures:
    """Non-zero coefficients of lasso vs ridge on standardised diabetes, by alpha.

    Both objectives are put on the same (mean squared error) scale: ridge's
    sum-of-squares ``alpha`` is ``n * alpha`` here.
    """
    X, y, _ = load_dataset("diabetes")
    (X,) = standardize(X)
    alphas = np.logspace(-2, 2, 17) if alphas is None else alphas
    lasso_nonzero, ridge_nonzero, ridge_smallest = [], [], []
    for alpha in alphas:
        lasso = LassoRegression(alpha=float(alpha)).fit(X, y)
        ridge = RidgeRegression(alpha=float(alpha) * len(X)).fit(X, y)
        lasso_nonzero.append(int((lasso.coef_ != 0).sum()))
        ridge_nonzero.append(int((ridge.coef_ != 0).sum()))
        ridge_smallest.append(float(np.abs(ridge.coef_).min()))
    return {
        "alphas": [float(a) for a in alphas],
        "lasso_nonzero": lasso_nonzero,
        "ridge_nonzero": ridge_nonzero,
        "ridge_smallest_abs_coef": ridge_smallest,
        "n_features": X.shape[1],
    }


def _accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float((model.predict(X) == y).mean())


def predict_at_depth(
    tree: DecisionTreeClassifier, X: np.ndarray, depth: int
) -> np.ndarray:
    """Predictions of ``tree`` cut at ``depth``: what ``max_depth=depth`` would grow.

    Growth is greedy and top-down, so the first ``depth`` levels of a deep
    tree are exactly the tree a ``max_depth=depth`` fit builds; one fit serves
    every depth of a sweep.
    """
    assert tree.value_ is not None and tree.classes_ is not None
    node = np.zeros(len(X), dtype=np.intp)
    for _ in range(depth):
        inner = np.flatnonzero(tree.feature_[node] != LEAF)
        at = node[inner]
        goes_left = X[inner, tree.feature_[at]] <= tree.threshold_[at]
        node[inner] = np.where(goes_left, tree.left_[at], tree.right_[at])
    return tree.classes_[tree.value_[node].argmax(axis=1)]


def depth_sweep(
    dataset: str = "digits", depths: range = range(1, 16), n_splits: int = 5
) -> Figures:
    """Train and validation accuracy of a CART tree by ``max_depth`` (mean of splits)."""
    X, y, _ = load_dataset(dataset)
    train = np.zeros((n_splits, len(depths)))
    val = np.zeros_like(train)
    for s in range(n_splits):
        X_tr, X_va, y_tr, y_va = split(X, y, 0.3, seed=s)
        tree = DecisionTreeClassifier().fit(X_tr, y_tr)
        for i, depth in enumerate(depths):
            train[s, i] = (predict_at_depth(tree, X_tr, depth) == y_tr).mean()
            val[s, i] = (predict_at_depth(tree, X_va, depth) == y_va).mean()
    return {
        "dataset": dataset,
        "depths": list(depths),
        "train": train.mean(0).tolist(),
        "val": val.mean(0).tolist(),
    }


def k_sweep(
    dataset: str = "breast_cancer",
    ks: tuple[int, ...] = (1, 2, 3, 5, 8, 12, 20, 35, 60, 100),
    n_splits: int = 5,
) -> Figures:
    """Train and validation accuracy of kNN (standardised features) by k."""
    X, y, _ = load_dataset(dataset)
    train = np.zeros((n_splits, len(ks)))
    val = np.zeros_like(train)
    for s in range(n_splits):
        X_tr, X_va, y_tr, y_va = split(X, y, 0.3, seed=s)
        X_tr, X_va = standardize(X_tr, X_va)
        for i, k in enumerate(ks):
            knn = KNeighborsClassifier(k).fit(X_tr, y_tr)
            train[s, i], val[s, i] = (
                _accuracy(knn, X_tr, y_tr),
                _accuracy(knn, X_va, y_va),
            )
    return {
        "ks": list(ks),
        "train": train.mean(0).tolist(),
        "val": val.mean(0).tolist(),
    }


def learning_curves(
    dataset: str = "digits",
    sizes: tuple[int, ...] = (100, 200, 400, 800, 1250),
    n_splits: int = 3,
) -> Figures:
    """Train/validation accuracy by training-set size: a deep tree vs a depth-2 tree.

    High variance shows as a large train-validation gap that shrinks with
    data; high bias as two low curves that meet early.
    """
    X, y, _ = load_dataset(dataset)
    models = {"deep tree (no limit)": None, "stump-like tree (depth 2)": 2}
    out: Figures = {"sizes": list(sizes)}
    for label, depth in models.items():
        train = np.zeros((n_splits, len(sizes)))
        val = np.zeros_like(train)
        for s in range(n_splits):
            X_tr, X_va, y_tr, y_va = split(X, y, 0.3, seed=s)
            for i, size in enumerate(sizes):
                tree = DecisionTreeClassifier(max_depth=depth).fit(
                    X_tr[:size], y_tr[:size]
                )
                train[s, i] = _accuracy(tree, X_tr[:size], y_tr[:size])
                val[s, i] = _accuracy(tree, X_va, y_va)
        out[label] = {"train": train.mean(0).tolist(), "val": val.mean(0).tolist()}
    return out


def bagging_variance(n_resamples: int = 8, n_trees: int = 25, seed: int = 0) -> Figures:
    """How much a deep tree's predictions move with the training sample, bagged or not.

    Each of ``n_resamples`` training sets is a bootstrap of the same
    training split; the *instability* is the share of validation rows whose
    predicted class is not the same across all of them. Bagging averages
    ``n_trees`` trees, each grown on its own bootstrap, by majority vote.
    """
    X, y, _ = load_dataset("breast_cancer")
    X_tr, X_va, y_tr, y_va = split(X, y, 0.3, seed=seed)
    rng = np.random.default_rng(seed)
    n = len(X_tr)

    def bagged_predict(rows: np.ndarray) -> np.ndarray:
        votes = np.zeros(len(X_va))
        for _ in range(n_trees):
            boot = rows[rng.integers(0, n, size=n)]
            votes += DecisionTreeClassifier().fit(X_tr[boot], y_tr[boot]).predict(X_va)
        return (votes / n_trees > 0.5).astype(y.dtype)

    single, bagged = [], []
    for _ in range(n_resamples):
        rows = rng.integers(0, n, size=n)
        single.append(
            DecisionTreeClassifier().fit(X_tr[rows], y_tr[rows]).predict(X_va)
        )
        bagged.append(bagged_predict(rows))
    out: Figures = {"n_trees": n_trees, "n_resamples": n_resamples}
    for name, predictions in (("single tree", single), ("bagged trees", bagged)):
        stack = np.array(predictions)  # (resamples, n_val)
        out[name] = {
            "instability": float((stack != stack[0]).any(axis=0).mean()),
            "accuracy": float((stack == y_va).mean()),
        }
    return out


def elbow(ks: range = range(1, 13), seed: int = 0) -> Figures:
    """Inertia by k on blobs with 6 true centres (k-means++, 5 inits each)."""
    X, _ = make_blobs(1_500, 6, n_features=5, spread=1.5, seed=seed)
    inertias = [KMeans(k, n_init=5, seed=seed).fit(X).inertia_ for k in ks]
    drops = -np.diff(inertias) / np.array(inertias[:-1])
    return {
        "ks": list(ks),
        "inertia": inertias,
        "relative_drop": drops.tolist(),
        "true_k": 6,
    }


def seeding_comparison(k: int = 12, n_init: int = 20, seed: int = 0) -> Figures:
    """k-means++ (greedy and classic) vs uniform random seeding, over many inits."""
    X, _ = make_blobs(3_000, k, n_features=4, spread=1.0, seed=seed)
    rows = []
    for label, init, trials in (
        ("k-means++ greedy", "k-means++", None),
        ("k-means++ classic", "k-means++", 1),
        ("random rows", "random", None),
    ):
        km = KMeans(k, n_init=n_init, init=init, n_local_trials=trials, seed=seed).fit(
            X
        )
        runs = np.array(km.init_inertias_)
        rows.append(
            {
                "seeding": label,
                "best inertia": float(runs.min()),
                "median inertia": float(np.median(runs)),
                "worst inertia": float(runs.max()),
                "runs within 1% of best": float((runs <= 1.01 * runs.min()).mean()),
            }
        )
    best = min(r["best inertia"] for r in rows)
    for r in rows:
        r["median / best overall"] = r["median inertia"] / best
    return {"k": k, "n_init": n_init, "rows": rows}


TWEETS = (
    ("the puppy is so happy today", "pos"),
    ("my hamster loves the new wheel", "pos"),
    ("upset that the bus was late again", "neg"),
    ("so upset with this rainy weather", "neg"),
)
QUERY = "The hamster is upset with the puppy"


def naive_bayes_tweets() -> Figures:
    """Classify the query with multinomial NB, with and without Laplace smoothing."""
    docs, labels = zip(*TWEETS, strict=True)
    counts, vocab = bag_of_words(docs)
    query, _ = bag_of_words([QUERY], vocab)
    rows = []
    for alpha in (1.0, 0.5, 0.0):
        nb = MultinomialNaiveBayes(alpha=alpha).fit(counts, labels)
        joint = nb.joint_log_likelihood(query)[0]
        proba = nb.predict_proba(query)[0]
        assert nb.classes_ is not None
        for c, label in enumerate(nb.classes_):
            rows.append(
                {
                    "alpha": alpha,
                    "class": str(label),
                    "log P(c) + log P(x given c)": float(joint[c]),
                    "P(c given x)": float(proba[c]),
                }
            )
    known = [w for w in vocab if query[0, vocab.index(w)] > 0]
    return {
        "tweets": TWEETS,
        "query": QUERY,
        "query_words_in_vocab": known,
        "rows": rows,
    }


def pca_scaling() -> Figures:
    """Explained-variance ratios on wine, raw units vs standardised."""
    X, _, names = load_dataset("wine")
    raw = PCA().fit(X)
    std = PCA().fit(standardize(X)[0])
    return {
        "raw_ratio": raw.explained_variance_ratio_.tolist(),
        "std_ratio": std.explained_variance_ratio_.tolist(),
        "raw_pc1_top_feature": names[int(np.abs(raw.components_[0]).argmax())],
        "std_pc1_top_feature": names[int(np.abs(std.components_[0]).argmax())],
        "feature_std_range": [float(X.std(0).min()), float(X.std(0).max())],
        "raw_components_for_95": int(
            np.searchsorted(np.cumsum(raw.explained_variance_ratio_), 0.95) + 1
        ),
        "std_components_for_95": int(
            np.searchsorted(np.cumsum(std.explained_variance_ratio_), 0.95) + 1
        ),
    }

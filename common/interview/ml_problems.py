"""Generated classical-ML problems for ``labkit interview ml``.

    problems = generate(seed=7)       # the same seed gives the same numbers

Each problem draws its numbers from the seed and computes its answer with the
reference code of the ``classical_ml`` lab (imported inside the function):
impurity and information gain with its tree's ``impurity``, a ridge slope by
fitting its ``RidgeRegression``, the lasso update with ``soft_threshold``, the
components PCA keeps with ``components_to_keep``, a logistic probability with
``sigmoid``. The lab has no metrics module, so confusion-matrix metrics come
from scikit-learn; the variance of a bagged average is the textbook formula
(Hastie et al., ESL eq. 15.1), written out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from common.interview.posing import Posed, generated
from common.interview.question import Tolerance

Problem = Callable[[np.random.Generator], list[Posed]]
FINE = Tolerance(relative=0.02)  # two or three significant digits by hand
REL = Tolerance(relative=0.05)


def confusion_metrics(rng: np.random.Generator) -> list[Posed]:
    from sklearn.metrics import f1_score, precision_score, recall_score

    tp = int(rng.integers(100, 600))
    fp, fn = (int(v) for v in rng.integers(20, 300, size=2))
    tn = int(rng.integers(500, 5000))
    # classical_ml has no metrics: scikit-learn computes them from the labels
    y_true = np.repeat([1, 0, 1, 0], [tp, fp, fn, tn])
    y_pred = np.repeat([1, 1, 0, 0], [tp, fp, fn, tn])
    matrix = f"TP = {tp}, FP = {fp}, FN = {fn}, TN = {tn}"
    asked = [
        ("precision", precision_score(y_true, y_pred), "TP / (TP + FP)"),
        ("recall", recall_score(y_true, y_pred), "TP / (TP + FN)"),
        ("F1", f1_score(y_true, y_pred), "2·P·R / (P + R) = 2TP / (2TP + FP + FN)"),
    ]
    return [
        generated(
            f"confusion-{name.lower()}",
            f"A classifier's confusion matrix on a test set: {matrix}. What is its {name}?",
            float(value),
            source=f"sklearn.metrics.{name.lower()}_score",
            tolerance=FINE,
            computation=f"{rule} = {float(value):.4f}",
            explain="Precision and recall never use the true negatives; on a rare "
            "positive class, accuracy is dominated by them.",
            given={"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        )
        for name, value, rule in asked
    ]


def _class_counts(rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """A two-class parent split into children with a clear gain."""
    while True:
        left = [int(v) for v in rng.integers(5, 60, size=2)]
        right = [int(v) for v in rng.integers(5, 60, size=2)]
        share_left = left[0] / sum(left)
        if abs(share_left - right[0] / sum(right)) > 0.35:
            return left, right


def tree_impurity(rng: np.random.Generator) -> list[Posed]:
    from labs.classical_ml import impurity

    left, right = _class_counts(rng)
    parent = [left[0] + right[0], left[1] + right[1]]
    gini = float(impurity(np.array(parent), "gini"))
    entropy = impurity(np.array([parent, left, right]), "entropy")
    n, n_l, n_r = sum(parent), sum(left), sum(right)
    gain = float(entropy[0] - n_l / n * entropy[1] - n_r / n * entropy[2])
    return [
        generated(
            "gini-impurity",
            f"A tree node holds {parent[0]} positive and {parent[1]} negative examples. "
            "What is its Gini impurity?",
            gini,
            source="labs.classical_ml.tree.impurity",
            tolerance=FINE,
            computation=f"1 − ({parent[0]}/{n})² − ({parent[1]}/{n})² = {gini:.4f}",
            given={"positive": parent[0], "negative": parent[1]},
        ),
        generated(
            "information-gain",
            f"That node ({parent[0]} positive, {parent[1]} negative) splits into a left "
            f"child with {left[0]} positive and {left[1]} negative and a right child "
            f"with {right[0]} and {right[1]}. What is the information gain, in bits?",
            gain,
            source="labs.classical_ml.tree.impurity (entropy)",
            tolerance=REL,
            computation=f"H(parent) − {n_l}/{n}·H(left) − {n_r}/{n}·H(right) = "
            f"{entropy[0]:.4f} − {n_l / n:.3f}·{entropy[1]:.4f} − "
            f"{n_r / n:.3f}·{entropy[2]:.4f} = {gain:.4f}",
            explain="H = −Σ p log₂ p; the split is worth the drop in weighted entropy.",
            given={
                "left_positive": left[0],
                "left_negative": left[1],
                "right_positive": right[0],
                "right_negative": right[1],
            },
        ),
    ]


def ridge_slope(rng: np.random.Generator) -> list[Posed]:
    from labs.classical_ml import RidgeRegression

    n = int(rng.integers(6, 11))
    x = rng.integers(0, 10, size=n).astype(float)
    while np.ptp(x) == 0:
        x = rng.integers(0, 10, size=n).astype(float)
    y = np.round(2.0 * x + rng.normal(0, 3, size=n), 1)
    alpha = float(rng.choice([2.0, 5.0, 10.0, 20.0, 50.0]))
    sxx = float(((x - x.mean()) ** 2).sum())
    sxy = float(((x - x.mean()) * (y - y.mean())).sum())
    coef = RidgeRegression(alpha=alpha).fit(x[:, None], y).coef_
    assert coef is not None  # set by fit
    slope = float(coef[0])
    return [
        generated(
            "ridge-slope",
            f"One feature, {n} examples, an unpenalised intercept. After centring, "
            f"Σx² = {sxx:.2f} and Σxy = {sxy:.2f} (least squares gives a slope of "
            f"{sxy / sxx:.3f}). What slope does ridge regression with α = {alpha:g} "
            "give (objective ‖y − Xw − b‖² + α‖w‖²)?",
            slope,
            source="labs.classical_ml.linear.RidgeRegression",
            tolerance=FINE,
            computation=f"Σxy / (Σx² + α) = {sxy:.2f} / ({sxx:.2f} + {alpha:g}) = {slope:.4f}",
            explain="The penalty adds α to the diagonal of XᵀX: every slope shrinks "
            "towards 0, none reaches it.",
            given={"sxx": sxx, "sxy": sxy, "alpha": alpha, "n": n},
        )
    ]


def lasso_update(rng: np.random.Generator) -> list[Posed]:
    from labs.classical_ml import soft_threshold

    alpha = float(rng.choice([0.1, 0.2, 0.3, 0.5]))
    rho = float(rng.choice([-1, 1])) * round(alpha + float(rng.uniform(0.1, 1.0)), 2)
    weight = float(soft_threshold(rho, alpha))
    return [
        generated(
            "lasso-coordinate-update",
            "Lasso (objective ‖y − Xw‖²/(2n) + α‖w‖₁) on one centred feature scaled so "
            f"that Σx²/n = 1, with Σxy/n = {rho:g} and α = {alpha:g}. What weight does "
            "the coordinate-descent update give it?",
            weight,
            source="labs.classical_ml.linear.soft_threshold",
            tolerance=FINE,
            computation=f"S({rho:g}, {alpha:g}) = sign(ρ)·max(|ρ| − α, 0) = {weight:g}",
            explain="Soft thresholding: any |ρ| ≤ α maps to exactly 0, which is why L1 "
            "gives sparse weights and L2 does not.",
            given={"rho": rho, "alpha": alpha},
        )
    ]


def bagging_variance(rng: np.random.Generator) -> list[Posed]:
    variance = float(rng.choice([1.0, 2.0, 4.0]))
    rho = float(rng.choice([0.1, 0.2, 0.3, 0.5]))
    trees = int(rng.choice([10, 25, 50, 100]))
    # ESL eq. 15.1, written out: no lab function computes it.
    averaged = rho * variance + (1 - rho) * variance / trees
    return [
        generated(
            "bagging-variance",
            f"Each of {trees} bagged trees predicts with variance {variance:g}; any two "
            f"trees' predictions are correlated with ρ = {rho:g}. What is the variance of "
            "their average?",
            averaged,
            source="ESL eq. 15.1, written out in common/interview/ml_problems.py",
            tolerance=FINE,
            computation=f"ρσ² + (1 − ρ)σ²/B = {rho:g}·{variance:g} + {1 - rho:g}·"
            f"{variance:g}/{trees} = {averaged:.4f}",
            explain="More trees only shrink the second term; the correlated part stays, "
            "which is why random forests decorrelate trees by sampling features.",
            given={"variance": variance, "rho": rho, "trees": trees},
        )
    ]


def pca_components(rng: np.random.Generator) -> list[Posed]:
    from labs.classical_ml.pca import components_to_keep

    target = float(rng.choice([0.8, 0.9, 0.95]))
    while True:  # no cumulative share so close to the target that rounding decides
        eigen = np.sort(np.round(rng.exponential(1.0, size=8) * 10 + 0.1, 1))[::-1]
        ratio = eigen / eigen.sum()
        if np.abs(np.cumsum(ratio) - target).min() > 0.005:
            break
    keep = components_to_keep(ratio, target)
    listed = ", ".join(f"{v:g}" for v in eigen)
    return [
        generated(
            "pca-components",
            f"The covariance matrix of 8 features has eigenvalues {listed}. "
            f"How many principal components must PCA keep so that the share of "
            f"variance explained exceeds {target:.0%}?",
            keep,
            source="labs.classical_ml.pca.components_to_keep",
            tolerance=Tolerance(absolute=0.0),
            unit="components",
            computation="cumulative shares "
            + ", ".join(f"{v:.3f}" for v in np.cumsum(ratio))
            + f": the first above {target:g} is component {keep}",
            given={
                **{f"eigenvalue_{i + 1}": float(v) for i, v in enumerate(eigen)},
                "target": target,
            },
        )
    ]


def logistic_probability(rng: np.random.Generator) -> list[Posed]:
    from labs.classical_ml.logistic import sigmoid

    w = np.round(rng.uniform(-1.5, 1.5, size=3), 1)
    x = np.round(rng.uniform(0, 3, size=3), 1)
    weights, features = ([float(v) for v in a] for a in (w, x))
    b = round(float(rng.uniform(-2, 1)), 1)
    z = float(w @ x + b)
    p = float(sigmoid(np.array(z)))
    return [
        generated(
            "logistic-probability",
            f"A logistic regression has weights {weights} and intercept {b:g}. What "
            f"probability of a click does it give an example with features {features}?",
            p,
            source="labs.classical_ml.logistic.sigmoid",
            tolerance=FINE,
            computation=f"z = w·x + b = {z:.3f}; σ(z) = 1/(1 + e^−z) = {p:.4f}",
            given={
                "b": b,
                **{f"w{i}": v for i, v in enumerate(weights)},
                **{f"x{i}": v for i, v in enumerate(features)},
            },
        )
    ]


PROBLEMS: tuple[Problem, ...] = (
    confusion_metrics,
    tree_impurity,
    ridge_slope,
    lasso_update,
    bagging_variance,
    pca_components,
    logistic_probability,
)


def generate(seed: int) -> list[Posed]:
    """Every problem with numbers drawn from ``seed`` (one stream per problem)."""
    streams = np.random.SeedSequence(seed).spawn(len(PROBLEMS))
    return [
        posed
        for make, stream in zip(PROBLEMS, streams, strict=True)
        for posed in make(np.random.default_rng(stream))
    ]

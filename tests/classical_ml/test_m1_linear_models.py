"""m1: ridge (closed form), lasso (coordinate descent), logistic (GD and Newton).

Oracle: scikit-learn's Ridge, Lasso and LogisticRegression at the same
regularisation (the objective mappings are in linear.py and logistic.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import linear_model

from labs.classical_ml.data import shopstream_ctr
from labs.classical_ml.linear import LassoRegression, RidgeRegression, soft_threshold
from labs.classical_ml.logistic import LogisticRegression, logistic_objective


def sk_logistic(X, y, C, solver="newton-cholesky"):
    """scikit-learn's L2 logistic regression, converged tightly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs may stop on its own ftol first
        return linear_model.LogisticRegression(
            C=C, solver=solver, tol=1e-12, max_iter=10_000
        ).fit(X, y)


# --- ridge -------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0, 10.0])
def test_ridge_matches_sklearn_on_diabetes(diabetes, alpha):
    X, y = diabetes
    ours = RidgeRegression(alpha=alpha).fit(X, y)
    ref = linear_model.Ridge(alpha=alpha).fit(X, y)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-9 * scale)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-9)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-9)


@given(
    n=st.integers(5, 60),
    d=st.integers(1, 8),
    alpha=st.floats(0.01, 100.0),
    fit_intercept=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_ridge_matches_sklearn_on_random_problems(n, d, alpha, fit_intercept, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d) + rng.normal(size=d)
    y = X @ rng.normal(size=d) + rng.normal(size=n) + 3.0
    ours = RidgeRegression(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    ref = linear_model.Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-8)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-6, abs=1e-8)


# --- lasso -------------------------------------------------------------------------


@given(rho=st.floats(-10, 10), t=st.floats(0, 5))
def test_soft_threshold_minimises_the_l1_proximal_objective(rho, t):
    """S(rho, t) = argmin_w 1/2 (w - rho)^2 + t |w|: no nearby w does better."""

    def objective(w):
        return 0.5 * (w - rho) ** 2 + t * abs(w)

    w = float(soft_threshold(rho, t))
    for other in (w - 1e-3, w + 1e-3, 0.0, rho):
        assert objective(w) <= objective(other) + 1e-12
    assert (w == 0.0) == (abs(rho) <= t)  # exactly zero on the whole flat stretch


@pytest.mark.parametrize("alpha", [0.05, 0.3, 1.0])
def test_lasso_matches_sklearn_on_diabetes(diabetes, alpha):
    X, y = diabetes
    ours = LassoRegression(alpha=alpha, tol=1e-10).fit(X, y)
    ref = linear_model.Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, y)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6 * scale)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-7)
    # The same coefficients are exactly zero: sparsity is part of the answer.
    np.testing.assert_array_equal(ours.coef_ == 0.0, ref.coef_ == 0.0)


def test_l1_zeroes_coefficients_where_l2_only_shrinks(diabetes):
    X, y = diabetes
    lasso = LassoRegression(alpha=1.0).fit(X, y)
    ridge = RidgeRegression(alpha=len(X) * 1.0).fit(X, y)  # a strong L2 penalty
    assert (lasso.coef_ == 0).sum() >= 3
    assert (ridge.coef_ == 0).sum() == 0


# --- logistic ------------------------------------------------------------------------


@given(
    n=st.integers(3, 40),
    d=st.integers(1, 5),
    lam=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**16),
)
def test_logistic_gradient_matches_finite_differences(n, d, lam, seed):
    rng = np.random.default_rng(seed)
    Xt = np.column_stack([rng.normal(size=(n, d)), np.ones(n)])
    y = rng.integers(0, 2, size=n).astype(float)
    theta = rng.normal(size=d + 1)
    mask = np.r_[np.ones(d), 0.0]
    J, grad = logistic_objective(theta, Xt, y, lam, mask)
    z = Xt @ theta
    expected = np.mean(np.log1p(np.exp(z)) - y * z) + lam / 2 * theta[:d] @ theta[:d]
    assert pytest.approx(expected, rel=1e-9, abs=1e-12) == J
    eps = 1e-6
    numeric = np.array(
        [
            (
                logistic_objective(theta + eps * e, Xt, y, lam, mask)[0]
                - logistic_objective(theta - eps * e, Xt, y, lam, mask)[0]
            )
            / (2 * eps)
            for e in np.eye(d + 1)
        ]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_newton_matches_sklearn(breast_cancer_std, C):
    X, y = breast_cancer_std
    ours = LogisticRegression(C=C, solver="newton", tol=1e-10).fit(X, y)
    assert ours.converged_ and ours.n_iter_ <= 30
    ref = sk_logistic(X, y, C)
    np.testing.assert_allclose(ours.coef_, ref.coef_[0], atol=1e-7)
    assert ours.intercept_ == pytest.approx(ref.intercept_[0], abs=1e-7)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-7)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


def test_newton_matches_lbfgs(breast_cancer_std):
    """A different algorithm (quasi-Newton) lands on the same optimum."""
    X, y = breast_cancer_std
    ours = LogisticRegression(C=0.01).fit(X, y)
    lbfgs = sk_logistic(X, y, 0.01, solver="lbfgs")
    scale = np.abs(lbfgs.coef_).max()
    np.testing.assert_allclose(ours.coef_, lbfgs.coef_[0], atol=1e-4 * scale)


@pytest.mark.parametrize("C", [0.01, 0.1])
def test_gradient_descent_matches_sklearn(breast_cancer_std, C):
    X, y = breast_cancer_std
    ours = LogisticRegression(C=C, solver="gd", tol=1e-7).fit(X, y)
    assert ours.converged_
    ref = sk_logistic(X, y, C)
    np.testing.assert_allclose(ours.coef_, ref.coef_[0], atol=1e-4)
    assert ours.intercept_ == pytest.approx(ref.intercept_[0], abs=1e-4)


def test_gradient_descent_with_step_one_over_l_never_increases_the_loss(
    breast_cancer_std,
):
    X, y = breast_cancer_std
    model = LogisticRegression(C=1.0, solver="gd", max_iter=300).fit(X, y)
    history = np.array(model.loss_history_)
    assert len(history) == 301 and not model.converged_
    assert (np.diff(history) <= 1e-12).all()
    assert history[-1] < history[0] - 0.5  # it did make progress from log(2)


@pytest.mark.parametrize("learning_rate", [None, 0.05])
def test_gradient_descent_steps_by_one_over_l_unless_told_otherwise(
    breast_cancer_std, learning_rate
):
    """One step from theta = 0 is -eta * grad(0), eta = 1/L by default.

    At theta = 0 every p is 1/2, so grad(0) = Xt^T (1/2 - y) / n exactly, and
    L = sigma_max(Xt)^2 / (4n) + lam: both written here from the formulas.
    """
    X, y = breast_cancer_std
    n = len(y)
    Xt = np.column_stack([X, np.ones(n)])
    lam = 1.0 / n  # C = 1
    grad0 = Xt.T @ (0.5 - y) / n
    L = np.linalg.svd(Xt, compute_uv=False)[0] ** 2 / (4 * n) + lam
    eta = 1.0 / L if learning_rate is None else learning_rate
    model = LogisticRegression(
        C=1.0, solver="gd", max_iter=1, learning_rate=learning_rate
    ).fit(X, y)
    np.testing.assert_allclose(model.coef_, -eta * grad0[:-1], rtol=1e-9, atol=1e-15)
    assert model.intercept_ == pytest.approx(-eta * grad0[-1], rel=1e-9, abs=1e-15)
    assert len(model.loss_history_) == 2  # J(theta_0) and J(theta_1)


def test_unscaled_features_slow_gradient_descent_not_newton(breast_cancer_std):
    """The same data in raw units: GD crawls, Newton barely notices."""
    from labs.classical_ml.data import load_dataset

    X_raw, y, _ = load_dataset("breast_cancer")
    X_std, _ = breast_cancer_std
    budget = 3_000
    scaled = LogisticRegression(C=0.1, solver="gd", max_iter=budget, tol=1e-6)
    raw = LogisticRegression(C=0.1, solver="gd", max_iter=budget, tol=1e-6)
    scaled.fit(X_std, y)
    raw.fit(X_raw, y)
    best_raw = LogisticRegression(C=0.1, solver="newton").fit(X_raw, y)
    best_std = LogisticRegression(C=0.1, solver="newton").fit(X_std, y)
    assert scaled.converged_ and not raw.converged_
    gap_raw = raw.loss_history_[-1] - best_raw.loss_history_[-1]
    assert gap_raw > 1e-3  # still far from the optimum after the same budget
    assert best_raw.n_iter_ <= 3 * best_std.n_iter_ + 5


def test_no_penalty_matches_sklearn(breast_cancer_std):
    X, y = breast_cancer_std
    X = X[:, :5]  # not separable on 5 features: the unpenalised optimum exists
    ours = LogisticRegression(C=np.inf, tol=1e-12).fit(X, y)
    ref = sk_logistic(X, y, np.inf)
    np.testing.assert_allclose(ours.coef_, ref.coef_[0], atol=1e-6)


def test_ctr_model_on_shopstream_matches_sklearn_and_is_calibrated():
    """The CTR use case: a few static ShopStream features, 5% positives."""
    X, clicked, names, _ = shopstream_ctr("tiny")
    assert X.shape == (len(clicked), len(names))
    ours = LogisticRegression(C=1.0).fit(X, clicked)
    ref = sk_logistic(X, clicked, 1.0)
    np.testing.assert_allclose(ours.coef_, ref.coef_[0], atol=1e-6)
    # An unpenalised intercept makes the mean prediction equal the observed CTR
    # exactly (its gradient, mean(p - y), is zero at the optimum).
    p = ours.predict_proba(X)[:, 1]
    assert p.mean() == pytest.approx(clicked.mean(), rel=1e-6)


@pytest.mark.given
def test_bad_inputs_raise_clear_errors():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="exactly 2 classes"):
        LogisticRegression().fit(X, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="NaN"):
        RidgeRegression().fit([[1.0, np.nan]], [1.0])
    with pytest.raises(ValueError, match="rows but y has"):
        RidgeRegression().fit(X, [1.0, 2.0])
    with pytest.raises(ValueError, match="C"):
        LogisticRegression(C=-1.0)

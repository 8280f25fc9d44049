"""Linear regression with an L2 penalty (closed form) or an L1 penalty (lasso).

    from labs.classical_ml.linear import RidgeRegression, LassoRegression
    ridge = RidgeRegression(alpha=1.0).fit(X, y)  # same objective as sklearn Ridge
    lasso = LassoRegression(alpha=0.1).fit(X, y)  # same objective as sklearn Lasso
    ridge.coef_, ridge.intercept_, lasso.predict(X)

The objectives are scikit-learn's exactly, so the coefficients can be
compared with ``sklearn.linear_model.Ridge`` / ``Lasso`` at the same
``alpha``. In both the intercept is *not* penalised; centring ``X`` and ``y``
removes it from the problem and it is recovered afterwards as
``b = mean(y) - mean(X) @ w``.

Run the checks with ``labkit check classical_ml`` (milestone m1).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from labs.classical_ml.validation import (
    check_count,
    check_features,
    check_fitted,
    check_positive,
    check_target,
    check_xy,
)


def _centre(
    X: np.ndarray, y: np.ndarray, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``(X - x_mean, y - y_mean, x_mean, y_mean)``; zero means without an intercept."""
    if not fit_intercept:
        return X, y, np.zeros(X.shape[1]), 0.0
    x_mean, y_mean = X.mean(axis=0), float(y.mean())
    return X - x_mean, y - y_mean, x_mean, y_mean


class LinearModel:
    """What a fitted linear regression is: ``coef_`` and ``intercept_``, and ``predict``.

    Ridge and lasso differ only in how ``fit`` finds the coefficients; the
    prediction is the same affine map.
    """

    coef_: np.ndarray | None  # set by each subclass's __init__, then by fit
    intercept_: float

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """``X @ coef_ + intercept_``, shape (n,)."""
        check_fitted(self, "coef_")
        assert self.coef_ is not None
        X = check_features(self, X, len(self.coef_))
        return X @ self.coef_ + self.intercept_


class RidgeRegression(LinearModel):
    """Least squares with an L2 penalty, solved in closed form.

    Minimises (scikit-learn's ``Ridge(alpha)`` objective)

        J(w, b) = ||y - X w - b||^2 + alpha ||w||^2.

    Setting the gradient to zero after centring gives the normal equations

        (Xc^T Xc + alpha I) w = Xc^T yc,   b = mean(y) - mean(X) @ w.

    ``alpha = 0`` is ordinary least squares (solved by ``lstsq``, which also
    copes with collinear columns).

    Args:
        alpha: penalty strength, >= 0. Note the *sum* of squares: the same
            ``alpha`` regularises less as n grows.
        fit_intercept: learn an unpenalised intercept ``b``.
    """

    def __init__(self, alpha: float = 1.0, fit_intercept: bool = True):
        self.alpha = check_positive(alpha, "alpha", allow_zero=True)
        self.fit_intercept = fit_intercept
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> RidgeRegression:
        X, y = check_xy(X, y)
        y = check_target(y)
        Xc, yc, x_mean, y_mean = _centre(X, y, self.fit_intercept)
        # BEGIN SOLUTION m1: solve the ridge normal equations on centred data, then recover the intercept
        d = X.shape[1]
        if self.alpha == 0.0:
            w = np.linalg.lstsq(Xc, yc, rcond=None)[0]
        else:
            gram = Xc.T @ Xc + self.alpha * np.eye(d)  # (d, d), positive definite
            w = np.linalg.solve(gram, Xc.T @ yc)
        self.coef_ = w
        self.intercept_ = float(y_mean - x_mean @ w)
        # END SOLUTION
        return self


def soft_threshold(rho: np.ndarray | float, threshold: float) -> np.ndarray:
    """``S(rho, t) = sign(rho) * max(|rho| - t, 0)``: the proximal map of ``t|w|``.

    Every |rho| <= t maps to *exactly* zero: that flat stretch is why the L1
    penalty produces sparse coefficients and L2 (which only scales) does not.
    """
    # BEGIN SOLUTION m1: shrink rho towards zero by threshold, clamping the middle to exactly 0
    return np.sign(rho) * np.maximum(np.abs(rho) - threshold, 0.0)
    # END SOLUTION


class LassoRegression(LinearModel):
    """Least squares with an L1 penalty, solved by cyclic coordinate descent.

    Minimises (scikit-learn's ``Lasso(alpha)`` objective; note the 1/2n)

        J(w, b) = 1/(2n) ||y - X w - b||^2 + alpha ||w||_1.

    With the residual ``r = yc - Xc w`` and ``z_j = ||x_j||^2 / n``, the exact
    minimiser over one coordinate with the others fixed is

        rho_j = x_j^T r / n + z_j w_j,    w_j <- S(rho_j, alpha) / z_j,

    after which ``r`` is updated in O(n). Sweeps repeat until no coefficient
    moves by more than ``tol`` (relative to the largest coefficient).

    Args:
        alpha: penalty strength, >= 0.
        max_iter: the most sweeps over all coordinates.
        tol: stop when ``max |dw| <= tol * max(|w|, 1e-12)``.
        fit_intercept: learn an unpenalised intercept.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        max_iter: int = 10_000,
        tol: float = 1e-8,
        fit_intercept: bool = True,
    ):
        self.alpha = check_positive(alpha, "alpha", allow_zero=True)
        self.max_iter = check_count(max_iter, "max_iter")
        self.tol = check_positive(tol, "tol")
        self.fit_intercept = fit_intercept
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.n_iter_: int = 0

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> LassoRegression:
        X, y = check_xy(X, y)
        y = check_target(y)
        Xc, yc, x_mean, y_mean = _centre(X, y, self.fit_intercept)
        n, d = Xc.shape
        # BEGIN SOLUTION m1: cyclic coordinate descent with soft-thresholding, keeping the residual up to date
        z = (Xc**2).sum(axis=0) / n  # (d,) curvature of each coordinate
        w = np.zeros(d)
        r = yc.copy()  # residual yc - Xc @ w
        self.n_iter_ = 0
        while self.n_iter_ < self.max_iter:
            self.n_iter_ += 1
            largest_step = 0.0
            for j in range(d):
                if z[j] == 0.0:  # a constant column carries no information
                    continue
                rho = Xc[:, j] @ r / n + z[j] * w[j]
                new = float(soft_threshold(rho, self.alpha)) / z[j]
                step = new - w[j]
                if step != 0.0:
                    r -= step * Xc[:, j]
                    w[j] = new
                    largest_step = max(largest_step, abs(step))
            if largest_step <= self.tol * max(np.abs(w).max(), 1e-12):
                break
        self.coef_ = w
        self.intercept_ = float(y_mean - x_mean @ w)
        # END SOLUTION
        return self

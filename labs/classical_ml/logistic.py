"""Binary logistic regression with an L2 penalty: gradient descent and Newton.

    from labs.classical_ml.logistic import LogisticRegression
    model = LogisticRegression(C=1.0, solver="newton").fit(X, y)
    model.coef_, model.intercept_, model.predict_proba(X)[:, 1]
    model.loss_history_  # the objective at every iterate: the convergence curve

**The objective and its mapping to scikit-learn.** scikit-learn's
``LogisticRegression(C=C)`` minimises ``C * sum_i l_i + 1/2 ||w||^2`` with an
unpenalised intercept, where ``l_i = log(1 + e^{z_i}) - y_i z_i`` and
``z_i = x_i . w + b``. Dividing by ``n C`` does not move the minimiser, so we
minimise the *mean* log loss with ``lam = 1 / (n C)``:

    J(w, b) = 1/n sum_i l_i + lam/2 ||w||^2,

    grad J  = 1/n Xt^T (p - y) + lam [w; 0],              p = sigmoid(Xt theta)
    hess J  = 1/n Xt^T diag(p (1 - p)) Xt + lam diag(1, ..., 1, 0),

with ``Xt = [X, 1]`` and ``theta = [w; b]``. The mean keeps the gradient's
scale independent of n, so one step size works for any n.

**Gradient descent** takes ``theta -= eta * grad`` with ``eta = 1/L``, where
``L = sigma_max(Xt)^2 / (4n) + lam`` bounds the Hessian (``p(1-p) <= 1/4``):
the objective then decreases at every step. Its speed depends on the
condition number ``L / mu``, which unscaled features make enormous.
**Newton** solves ``hess * delta = grad`` each step: a few dozen O(n d^2)
iterations, almost insensitive to feature scale.

Run the checks with ``labkit check classical_ml`` (milestone m1).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from labs.classical_ml.validation import (
    check_binary,
    check_count,
    check_features,
    check_fitted,
    check_positive,
    check_xy,
)

Solver = Literal["gd", "newton"]
DEFAULT_MAX_ITER = {"gd": 50_000, "newton": 100}


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-z)`` without overflow for large |z|."""
    return np.exp(-np.logaddexp(0.0, -z))


def logistic_objective(
    theta: np.ndarray, Xt: np.ndarray, y: np.ndarray, lam: float, mask: np.ndarray
) -> tuple[float, np.ndarray]:
    """The penalised mean log loss and its gradient.

    Args:
        theta: ``[w; b]`` (or just ``w`` without an intercept), shape (p,).
        Xt: the design matrix with a trailing ones column, shape (n, p).
        y: labels in {0, 1}, shape (n,).
        lam: L2 strength on the mean-loss scale, ``1 / (n C)``.
        mask: 1 for penalised entries of ``theta``, 0 for the intercept, (p,).

    Returns:
        ``(J, grad)`` with ``J = mean(log(1 + e^z) - y z) + lam/2 ||mask theta||^2``
        and ``grad = Xt^T (sigmoid(z) - y) / n + lam mask theta``.
    """
    # BEGIN SOLUTION m1: mean log loss via logaddexp plus the L2 term, and its vectorised gradient
    n = len(y)
    z = Xt @ theta  # (n,)
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    penalised = mask * theta
    objective = loss + 0.5 * lam * float(penalised @ penalised)
    gradient = Xt.T @ (sigmoid(z) - y) / n + lam * penalised  # (p,)
    return objective, gradient
    # END SOLUTION


def lipschitz_constant(Xt: np.ndarray, lam: float) -> float:
    """``L = sigma_max(Xt)^2 / (4n) + lam``: no eigenvalue of the Hessian exceeds it."""
    return float(np.linalg.norm(Xt, ord=2) ** 2 / (4 * len(Xt)) + lam)


class LogisticRegression:
    """L2-penalised binary logistic regression (see the module docstring).

    Args:
        C: inverse penalty strength, scikit-learn's convention; ``np.inf``
            means no penalty.
        solver: ``"gd"`` (gradient descent, step ``learning_rate`` or 1/L)
            or ``"newton"`` (Newton-Raphson with step halving).
        max_iter: the most iterations (default 50,000 for gd, 100 for newton).
        tol: stop when ``max |grad J| <= tol``.
        learning_rate: gd step size; ``None`` uses the safe ``1/L``.
        fit_intercept: learn an unpenalised intercept.

    After ``fit``: ``coef_`` (d,), ``intercept_``, ``classes_`` (the larger
    label is the positive class), ``n_iter_``, ``converged_`` and
    ``loss_history_`` (J at every iterate, starting from theta = 0).
    """

    def __init__(
        self,
        C: float = 1.0,
        solver: Solver = "newton",
        max_iter: int | None = None,
        tol: float = 1e-8,
        learning_rate: float | None = None,
        fit_intercept: bool = True,
    ):
        if solver not in DEFAULT_MAX_ITER:
            raise ValueError(
                f"solver must be one of {sorted(DEFAULT_MAX_ITER)}, got {solver!r}."
            )
        if not np.isposinf(C):
            check_positive(C, "C (or np.inf for no penalty)")
        self.C = float(C)
        self.solver = solver
        self.max_iter = check_count(
            DEFAULT_MAX_ITER[solver] if max_iter is None else max_iter, "max_iter"
        )
        self.tol = check_positive(tol, "tol")
        self.learning_rate = (
            None
            if learning_rate is None
            else check_positive(learning_rate, "learning_rate")
        )
        self.fit_intercept = fit_intercept
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.classes_: np.ndarray | None = None
        self.n_iter_ = 0
        self.converged_ = False
        self.loss_history_: list[float] = []

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> LogisticRegression:
        X, labels = check_xy(X, y)
        self.classes_, y01 = check_binary(labels)
        n, d = X.shape
        Xt = np.column_stack([X, np.ones(n)]) if self.fit_intercept else X
        mask = np.ones(Xt.shape[1])
        if self.fit_intercept:
            mask[-1] = 0.0  # the intercept is not penalised
        lam = 0.0 if np.isposinf(self.C) else 1.0 / (n * self.C)
        fit = self._gradient_descent if self.solver == "gd" else self._newton
        theta = fit(Xt, y01, lam, mask)
        self.coef_ = theta[:d]
        self.intercept_ = float(theta[d]) if self.fit_intercept else 0.0
        return self

    def _gradient_descent(
        self, Xt: np.ndarray, y: np.ndarray, lam: float, mask: np.ndarray
    ) -> np.ndarray:
        """Fixed-step gradient descent from theta = 0; records J per iterate."""
        self.loss_history_, self.converged_ = [], False
        # BEGIN SOLUTION m1: gradient descent with step 1/L (or learning_rate) until max|grad| <= tol
        step = self.learning_rate or 1.0 / lipschitz_constant(Xt, lam)
        theta = np.zeros(Xt.shape[1])
        for iteration in range(self.max_iter + 1):
            objective, gradient = logistic_objective(theta, Xt, y, lam, mask)
            self.loss_history_.append(objective)
            if np.abs(gradient).max() <= self.tol:
                self.converged_ = True
                break
            if iteration < self.max_iter:
                theta = theta - step * gradient
        self.n_iter_ = iteration
        return theta
        # END SOLUTION

    def _newton(
        self, Xt: np.ndarray, y: np.ndarray, lam: float, mask: np.ndarray
    ) -> np.ndarray:
        """Newton-Raphson from theta = 0, halving the step until J decreases."""
        self.loss_history_, self.converged_ = [], False
        # BEGIN SOLUTION m1: Newton steps: solve (Xt^T S Xt / n + lam diag(mask)) delta = grad, halving the step until J decreases
        n = len(y)
        theta = np.zeros(Xt.shape[1])
        objective, gradient = logistic_objective(theta, Xt, y, lam, mask)
        for iteration in range(self.max_iter + 1):
            self.loss_history_.append(objective)
            if np.abs(gradient).max() <= self.tol:
                self.converged_ = True
                break
            if iteration == self.max_iter:
                break
            p = sigmoid(Xt @ theta)
            s = p * (1.0 - p)  # (n,) the IRLS weights
            hessian = Xt.T @ (Xt * s[:, None]) / n + lam * np.diag(mask)  # (p, p)
            try:
                delta = np.linalg.solve(hessian, gradient)
            except np.linalg.LinAlgError:  # singular without a penalty
                delta = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
            step = 1.0
            while True:
                candidate = theta - step * delta
                new_objective, new_gradient = logistic_objective(
                    candidate, Xt, y, lam, mask
                )
                if new_objective <= objective or step < 1e-10:
                    break
                step /= 2
            theta, objective, gradient = candidate, new_objective, new_gradient
        self.n_iter_ = iteration
        return theta
        # END SOLUTION

    def decision_function(self, X: npt.ArrayLike) -> np.ndarray:
        """The log-odds ``X @ coef_ + intercept_``, shape (n,)."""
        check_fitted(self, "coef_")
        assert self.coef_ is not None
        X = check_features(self, X, len(self.coef_))
        return X @ self.coef_ + self.intercept_

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """``[P(y = classes_[0]), P(y = classes_[1])]`` per row, shape (n, 2)."""
        p = sigmoid(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The class with the larger probability (``classes_[1]`` when z > 0)."""
        z = self.decision_function(X)  # raises if not fitted
        assert self.classes_ is not None
        return self.classes_[(z > 0).astype(np.intp)]

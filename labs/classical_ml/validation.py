"""Input checks shared by every estimator of the lab (given, not an exercise).

Each check either returns a clean float64/label array or raises a
``ValueError`` that says what was wrong, with the value, and what to do. No
row is ever dropped silently: a NaN is an error, not a row to skip.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def check_matrix(X: npt.ArrayLike, name: str = "X") -> np.ndarray:
    """``X`` as a finite float64 matrix of shape (n, d) with n >= 1 and d >= 1."""
    array = np.asarray(X, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-d (n_samples, n_features), got shape {array.shape}; "
            "reshape a single feature with x.reshape(-1, 1)."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); pass some data.")
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0, 0])
        raise ValueError(
            f"{name} has {int(bad.sum())} NaN or infinite values (first in row {row}); "
            "impute or drop those rows explicitly before fitting."
        )
    return array


def check_xy(X: npt.ArrayLike, y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """A clean ``X`` and a 1-d ``y`` with one entry per row of ``X``."""
    X = check_matrix(X)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-d, got shape {y.shape}; pass y.ravel().")
    if len(y) != len(X):
        raise ValueError(
            f"X has {len(X)} rows but y has {len(y)} entries; they must match."
        )
    return X, y


def check_target(y: np.ndarray) -> np.ndarray:
    """A regression target as finite float64."""
    y = np.asarray(y, dtype=np.float64)
    if not np.isfinite(y).all():
        raise ValueError("y has NaN or infinite values; drop or impute them first.")
    return y


def encode_labels(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class labels as ``(classes, codes)``: sorted distinct labels and 0..K-1 codes.

    The sorted order matches scikit-learn's ``classes_``, so "the smallest
    label wins a tie" means the same thing in both.
    """
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("y has NaN labels; every row needs a class label.")
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.astype(np.intp)


def check_binary(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-class labels as ``(classes, y01)``; the larger label is the positive."""
    classes, codes = encode_labels(y)
    if len(classes) != 2:
        raise ValueError(
            f"binary logistic regression needs exactly 2 classes, got "
            f"{len(classes)}: {classes[:5].tolist()}; pass a two-class target."
        )
    return classes, codes.astype(np.float64)


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """A hyperparameter that must be > 0 (or >= 0)."""
    number = float(value)
    ok = number >= 0 if allow_zero else number > 0
    if not ok or not np.isfinite(number):
        need = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {need}, got {value!r}.")
    return number


def check_count(value: Any, name: str, *, low: int = 1) -> int:
    """An integer hyperparameter of at least ``low``."""
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def check_fitted(model: Any, attribute: str) -> None:
    """Raise if ``model.fit`` has not run (``attribute`` is still unset)."""
    if getattr(model, attribute, None) is None:
        raise RuntimeError(
            f"{type(model).__name__} is not fitted yet; call .fit(X, y) first."
        )


def check_features(model: Any, X: npt.ArrayLike, expected: int) -> np.ndarray:
    """``X`` at predict time: a clean matrix (:func:`check_matrix`) with as many
    columns as at fit time."""
    X = check_matrix(X)
    if X.shape[1] != expected:
        raise ValueError(
            f"{type(model).__name__} was fitted on {expected} features but X has "
            f"{X.shape[1]}; transform new data the same way as the training data."
        )
    return X

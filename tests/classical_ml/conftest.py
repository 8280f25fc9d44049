"""Fixtures of the classical_ml tests: bundled datasets, loaded once per session."""

from __future__ import annotations

import numpy as np
import pytest

from labs.classical_ml.data import load_dataset, standardize


@pytest.fixture(scope="session")
def breast_cancer_std() -> tuple[np.ndarray, np.ndarray]:
    """Breast cancer (569 x 30, binary), standardised: the logistic-regression data."""
    X, y, _ = load_dataset("breast_cancer")
    (X_std,) = standardize(X)
    return X_std, y


@pytest.fixture(scope="session")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    """Diabetes (442 x 10, regression): the ridge and lasso data."""
    X, y, _ = load_dataset("diabetes")
    return X, y


@pytest.fixture(scope="session")
def datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every bundled classification dataset, raw: name -> (X, y)."""
    return {
        name: load_dataset(name)[:2]
        for name in ("iris", "wine", "breast_cancer", "digits")
    }


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    """Small matrices on a shared 2-core machine: threads only contend.

    Both our numpy code and scikit-learn run single-threaded while these
    tests run (restored afterwards), which keeps them fast and steady.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield

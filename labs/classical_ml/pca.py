"""Principal component analysis as the SVD of the centred data.

    from labs.classical_ml.pca import PCA
    pca = PCA(n_components=2).fit(X)
    Z = pca.transform(X)  # (n, 2) projections
    pca.explained_variance_ratio_, pca.components_

With ``Xc = X - mean(X)`` and its thin SVD ``Xc = U S V^T``, the covariance
is ``Xc^T Xc / (n - 1) = V (S^2 / (n - 1)) V^T``: the right singular vectors
are its eigenvectors (the principal axes) and ``S^2 / (n - 1)`` its
eigenvalues (the explained variances). The projections are
``Xc V = U S``. Working on ``Xc`` directly never forms ``Xc^T Xc``, whose
condition number is the square of ``Xc``'s, so small components stay
accurate.

PCA maximises variance, so it is not scale-invariant: a feature measured in
thousands dominates the first component unless the features are
standardised first (``labkit run classical_ml`` shows this on the wine data).

Signs: a singular vector is defined only up to sign. Like scikit-learn
(``svd_flip`` with ``u_based_decision=False``), each component is flipped so
its largest-magnitude entry is positive; comparisons still allow either sign.

Run the checks with ``labkit check classical_ml`` (milestone m5).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from labs.classical_ml.validation import check_features, check_fitted, check_matrix


def components_to_keep(ratio: np.ndarray, n_components: int | float | None) -> int:
    """How many components to keep.

    ``None`` keeps all; an int keeps that many; a float in (0, 1) keeps the
    fewest whose cumulative explained-variance ratio *exceeds* it (the rule
    scikit-learn uses).
    """
    if n_components is None:
        return len(ratio)
    if isinstance(n_components, float):
        return int(np.searchsorted(np.cumsum(ratio), n_components, side="right") + 1)
    return int(n_components)


class PCA:
    """PCA by SVD (see the module docstring).

    Args:
        n_components: ``None`` (all, ``min(n, d)``), an int in
            ``1..min(n, d)``, or a float in (0, 1): the share of variance to keep.

    After ``fit``: ``mean_`` (d,), ``components_`` (k, d) with orthonormal
    rows, ``explained_variance_`` (k,), ``explained_variance_ratio_`` (k,),
    ``singular_values_`` (k,) and ``n_components_``.
    """

    def __init__(self, n_components: int | float | None = None):
        if isinstance(n_components, float) and not 0.0 < n_components < 1.0:
            raise ValueError(
                f"a float n_components is a variance share and must be in (0, 1), "
                f"got {n_components}; pass an int to keep a number of components."
            )
        if isinstance(n_components, int) and n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}.")
        self.n_components = n_components
        self.components_: np.ndarray | None = None

    def fit(self, X: npt.ArrayLike) -> PCA:
        X = check_matrix(X)
        n, d = X.shape
        if n < 2:
            raise ValueError(
                f"PCA needs at least 2 rows to estimate variance, got {n}."
            )
        if isinstance(self.n_components, int) and self.n_components > min(n, d):
            raise ValueError(
                f"n_components={self.n_components} exceeds min(n_samples, "
                f"n_features) = {min(n, d)}; lower it."
            )
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_  # (n, d)
        # BEGIN SOLUTION m5: thin SVD of the centred data; flip signs so each component's largest-|entry| is positive; variances S^2/(n-1) and their shares
        _, S, Vt = np.linalg.svd(Xc, full_matrices=False)  # S (r,), Vt (r, d)
        biggest = np.abs(Vt).argmax(axis=1)
        signs = np.sign(Vt[np.arange(len(Vt)), biggest])
        Vt = Vt * np.where(signs == 0, 1.0, signs)[:, None]
        variance = S**2 / (n - 1)  # (r,) eigenvalues of the covariance
        total = variance.sum()
        ratio = variance / total if total > 0 else np.zeros_like(variance)
        k = components_to_keep(ratio, self.n_components)
        self.components_ = Vt[:k]
        self.explained_variance_ = variance[:k]
        self.explained_variance_ratio_ = ratio[:k]
        self.singular_values_ = S[:k]
        self.n_components_ = k
        # END SOLUTION
        return self

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Coordinates on the principal axes: ``(X - mean_) @ components_.T``, (n, k)."""
        check_fitted(self, "components_")
        assert self.components_ is not None
        X = check_features(self, X, len(self.mean_))
        # BEGIN SOLUTION m5: centre with the training mean and project onto the components
        return (X - self.mean_) @ self.components_.T
        # END SOLUTION

    def inverse_transform(self, Z: npt.ArrayLike) -> np.ndarray:
        """Back to feature space: ``Z @ components_ + mean_``, (n, d).

        With k < d this is the best rank-k reconstruction; its mean squared
        error per row is the sum of the discarded variances times (n-1)/n.
        """
        check_fitted(self, "components_")
        assert self.components_ is not None
        Z = check_matrix(Z, "Z")
        if Z.shape[1] != len(self.components_):
            raise ValueError(
                f"Z has {Z.shape[1]} columns but the PCA keeps "
                f"{len(self.components_)} components; pass transform()'s output."
            )
        # BEGIN SOLUTION m5: map the coordinates back through the components and add the mean
        return Z @ self.components_ + self.mean_
        # END SOLUTION

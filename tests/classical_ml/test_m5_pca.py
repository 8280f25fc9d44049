"""m5: PCA via the SVD of the centred data.

Oracles: scikit-learn's PCA (full SVD solver) and numpy's eigendecomposition
of the covariance matrix. Components are compared up to sign.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.decomposition import PCA as SkPCA

from labs.classical_ml.data import standardize
from labs.classical_ml.pca import PCA


def assert_equal_up_to_sign(ours, ref, axis, atol):
    """Each row (axis=1) or column (axis=0) equals the reference or its negative."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    if axis == 0:
        ours, ref = ours.T, ref.T
    for a, b in zip(ours, ref, strict=True):
        sign = 1.0 if np.abs(a - b).max() <= np.abs(a + b).max() else -1.0
        np.testing.assert_allclose(a, sign * b, atol=atol)


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
@pytest.mark.parametrize("n_components", [None, 2, 0.9])
def test_pca_equals_sklearn_up_to_sign(datasets, name, n_components):
    X, _ = datasets[name]
    ours = PCA(n_components).fit(X)
    ref = SkPCA(n_components, svd_solver="full").fit(X)
    assert ours.n_components_ == ref.n_components_
    top = ref.explained_variance_[0]
    np.testing.assert_allclose(
        ours.explained_variance_, ref.explained_variance_, atol=1e-10 * top
    )
    np.testing.assert_allclose(
        ours.explained_variance_ratio_, ref.explained_variance_ratio_, atol=1e-12
    )
    np.testing.assert_allclose(
        ours.singular_values_, ref.singular_values_, rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(ours.mean_, ref.mean_)
    # Compare only the well-separated components: axes with (near-)equal
    # variances are not unique (digits has 3 zero-variance pixels).
    gaps = np.abs(np.diff(np.r_[ref.explained_variance_, 0.0])) > 1e-6 * top
    separated = np.flatnonzero(gaps & np.r_[True, gaps[:-1]])
    assert_equal_up_to_sign(
        ours.components_[separated], ref.components_[separated], 1, 1e-8
    )
    assert_equal_up_to_sign(
        ours.transform(X)[:, separated],
        ref.transform(X)[:, separated],
        0,
        1e-7 * np.abs(X).max(),
    )


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_components_follow_sklearns_sign_convention(datasets, name):
    """Each component's largest-|entry| is positive, so the signs equal sklearn's."""
    X, _ = datasets[name]
    ours = PCA(4).fit(X)
    ref = SkPCA(4, svd_solver="full").fit(X)
    rows = np.arange(len(ours.components_))
    biggest = np.abs(ours.components_).argmax(axis=1)
    assert (ours.components_[rows, biggest] > 0).all()
    np.testing.assert_allclose(ours.components_, ref.components_, atol=1e-8)
    np.testing.assert_allclose(
        ours.transform(X), ref.transform(X), atol=1e-7 * np.abs(X).max()
    )


@given(
    n=st.integers(3, 40),
    d=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_explained_variance_equals_covariance_eigenvalues(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    pca = PCA().fit(X)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False).reshape(d, d)))[
        ::-1
    ]
    k = pca.n_components_
    assert k == min(n, d)
    np.testing.assert_allclose(
        pca.explained_variance_, eigenvalues[:k], atol=1e-9 * max(eigenvalues[0], 1.0)
    )
    # Orthonormal axes.
    np.testing.assert_allclose(
        pca.components_ @ pca.components_.T, np.eye(k), atol=1e-9
    )


def test_reconstruction_error_is_the_discarded_variance(datasets):
    X, _ = datasets["wine"]
    (X,) = standardize(X)
    n = len(X)
    full = PCA().fit(X)
    np.testing.assert_allclose(full.inverse_transform(full.transform(X)), X, atol=1e-10)
    for k in (1, 3, 6):
        pca = PCA(k).fit(X)
        error = ((X - pca.inverse_transform(pca.transform(X))) ** 2).sum(axis=1).mean()
        discarded = full.explained_variance_[k:].sum() * (n - 1) / n
        assert error == pytest.approx(discarded, rel=1e-9)


def test_reconstruction_lands_around_the_data_like_sklearn(datasets):
    """Raw wine: every feature has a mean far from 0, which the map back restores."""
    X, _ = datasets["wine"]
    ours, ref = PCA(3).fit(X), SkPCA(3, svd_solver="full").fit(X)
    back = ours.inverse_transform(ours.transform(X))
    np.testing.assert_allclose(
        back, ref.inverse_transform(ref.transform(X)), atol=1e-8 * np.abs(X).max()
    )
    np.testing.assert_allclose(back.mean(axis=0), X.mean(axis=0), rtol=1e-9)


def test_projections_are_uncorrelated_with_the_explained_variances(datasets):
    X, _ = datasets["breast_cancer"]
    pca = PCA(5).fit(X)
    Z = pca.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-8 * np.abs(Z).max())
    cov = np.cov(Z, rowvar=False)
    np.testing.assert_allclose(
        cov, np.diag(pca.explained_variance_), atol=1e-8 * cov.max()
    )


def test_unscaled_wine_is_one_feature_standardised_wine_is_not(datasets):
    """The interview answer: without scaling, proline (hundreds) is PC1."""
    X, _ = datasets["wine"]
    raw = PCA(2).fit(X)
    std = PCA(2).fit(standardize(X)[0])
    assert raw.explained_variance_ratio_[0] > 0.99
    assert np.abs(raw.components_[0]).argmax() == 12  # proline
    assert std.explained_variance_ratio_[0] < 0.5

"""m4: k-nearest neighbours and naive Bayes (Gaussian and multinomial).

Oracles: scikit-learn's KNeighborsClassifier (brute force), GaussianNB and
MultinomialNB; a stable brute-force sort for the neighbour tie rule; scipy's
log_softmax for the posterior normalisation.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import log_softmax
from sklearn.naive_bayes import GaussianNB, MultinomialNB
from sklearn.neighbors import KNeighborsClassifier as SkKNN

from labs.classical_ml.data import split, standardize
from labs.classical_ml.naive_bayes import (
    GaussianNaiveBayes,
    MultinomialNaiveBayes,
    bag_of_words,
    log_posterior,
)
from labs.classical_ml.neighbors import KNeighborsClassifier, nearest

# --- kNN ---------------------------------------------------------------------------


@given(
    D=arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(1, 15)),
        elements=st.integers(0, 5).map(float),
    ),
    data=st.data(),
)
def test_nearest_breaks_distance_ties_by_lower_index(D, data):
    """Integer distances, so ties are everywhere: compare with a stable sort."""
    k = data.draw(st.integers(1, D.shape[1]))
    expected = np.array(
        [sorted(range(len(row)), key=lambda j: (row[j], j))[:k] for row in D]
    )
    np.testing.assert_array_equal(nearest(D, k), expected)


@pytest.mark.parametrize("name", ["wine", "breast_cancer", "digits"])
def test_knn_equals_sklearn_on_standardised_data(datasets, name):
    """No distance ties among these neighbours, so the answers must be equal.

    (iris is left out: it has duplicate rows, hence ties; see the next test.)
    """
    X, y = datasets[name]
    X_tr, X_va, y_tr, _ = split(X, y, val_share=0.3, seed=0)
    X_tr, X_va = standardize(X_tr, X_va)
    for k in (1, 4, 15):
        ours = KNeighborsClassifier(k).fit(X_tr, y_tr)
        ref = SkKNN(n_neighbors=k, algorithm="brute").fit(X_tr, y_tr)
        np.testing.assert_array_equal(ours.predict(X_va), ref.predict(X_va))
        np.testing.assert_allclose(ours.predict_proba(X_va), ref.predict_proba(X_va))
        dist, idx = ours.kneighbors(X_va)
        ref_dist, ref_idx = ref.kneighbors(X_va)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_allclose(dist, ref_dist, rtol=1e-9)


def test_distance_ties_on_real_data_follow_the_documented_rule(datasets):
    """Raw digits are integers 0..16: distances are exact, and ties abound."""
    X, y = datasets["digits"]
    X_tr, X_va, y_tr, _ = split(X, y, val_share=0.3, seed=0)
    X_va = X_va[:60]
    exact = ((X_va[:, None, :] - X_tr[None, :, :]) ** 2).sum(axis=2)  # integers
    _, idx = KNeighborsClassifier(5).fit(X_tr, y_tr).kneighbors(X_va)
    expected = np.argsort(exact, axis=1, kind="stable")[:, :5]  # lower index first
    np.testing.assert_array_equal(idx, expected)


def test_a_vote_tie_goes_to_the_smallest_label_like_sklearn():
    # Query at 0: neighbour 1 (label "b") at distance 1, neighbour 2 ("a") at 2.
    X = np.array([[1.0], [-2.0], [10.0]])
    y = np.array(["b", "a", "a"])
    ours = KNeighborsClassifier(2).fit(X, y)
    ref = SkKNN(n_neighbors=2, algorithm="brute").fit(X, y)
    query = np.array([[0.0]])
    assert ours.predict(query)[0] == "a" == ref.predict(query)[0]
    np.testing.assert_allclose(ours.predict_proba(query), [[0.5, 0.5]])


def test_k_equal_to_one_memorises_the_training_set(datasets):
    X, y = datasets["breast_cancer"]
    (X_std,) = standardize(X)
    assert (KNeighborsClassifier(1).fit(X_std, y).predict(X_std) == y).all()


def test_knn_chunks_queries_without_changing_answers(monkeypatch, datasets):
    import labs.classical_ml.neighbors as neighbors

    X, y = datasets["iris"]
    X_tr, X_va, y_tr, _ = split(X, y, val_share=0.3, seed=1)
    whole = KNeighborsClassifier(5).fit(X_tr, y_tr).predict_proba(X_va)
    monkeypatch.setattr(neighbors, "CHUNK_ELEMENTS", 7 * len(X_tr))  # 7 rows
    chunked = KNeighborsClassifier(5).fit(X_tr, y_tr).predict_proba(X_va)
    np.testing.assert_array_equal(whole, chunked)


# --- naive Bayes -----------------------------------------------------------------------


@given(
    joint=arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 4)),
        elements=st.floats(-1e4, 1e4),
    ),
)
def test_log_posterior_equals_scipy_log_softmax_even_for_huge_logs(joint):
    out = log_posterior(joint)
    np.testing.assert_allclose(out, log_softmax(joint, axis=1), atol=1e-9)
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0)


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
def test_gaussian_nb_equals_sklearn(datasets, name):
    X, y = datasets[name]  # digits has constant pixels: epsilon matters there
    X_tr, X_va, y_tr, _ = split(X, y, val_share=0.3, seed=0)
    ours = GaussianNaiveBayes().fit(X_tr, y_tr)
    ref = GaussianNB().fit(X_tr, y_tr)
    np.testing.assert_allclose(ours.class_prior_, ref.class_prior_)
    np.testing.assert_allclose(ours.theta_, ref.theta_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.var_, ref.var_, rtol=1e-9)
    np.testing.assert_array_equal(ours.predict(X_va), ref.predict(X_va))
    np.testing.assert_allclose(
        ours.predict_proba(X_va), ref.predict_proba(X_va), atol=1e-9
    )


def test_multinomial_nb_equals_sklearn_on_pixel_counts(datasets):
    X, y = datasets["digits"]  # pixel intensities 0..16 behave like counts
    for alpha in (1.0, 0.1):
        ours = MultinomialNaiveBayes(alpha=alpha).fit(X, y)
        ref = MultinomialNB(alpha=alpha).fit(X, y)
        np.testing.assert_allclose(ours.feature_log_prob_, ref.feature_log_prob_)
        np.testing.assert_allclose(ours.class_log_prior_, ref.class_log_prior_)
        np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
        np.testing.assert_allclose(
            ours.predict_proba(X), ref.predict_proba(X), atol=1e-9
        )


TWEETS = [
    ("the puppy is so happy today", "pos"),
    ("my hamster loves the new wheel", "pos"),
    ("upset that the bus was late again", "neg"),
    ("so upset with this rainy weather", "neg"),
]


def test_laplace_smoothing_keeps_unseen_words_from_vetoing_a_class():
    docs, labels = zip(*TWEETS, strict=True)
    counts, vocab = bag_of_words(docs)
    query, _ = bag_of_words(["The hamster is upset with the puppy"], vocab)
    laplace = MultinomialNaiveBayes(alpha=1.0).fit(counts, labels)
    ref = MultinomialNB(alpha=1.0).fit(counts, labels)
    np.testing.assert_allclose(laplace.predict_proba(query), ref.predict_proba(query))
    assert 0.0 < laplace.predict_proba(query)[0, 0] < 1.0
    # Without smoothing "hamster" (only pos) and "upset" (only neg) rule out
    # both classes: the posterior is 0/0.
    raw = MultinomialNaiveBayes(alpha=0.0).fit(counts, labels)
    assert np.isneginf(raw.joint_log_likelihood(query)).all()
    assert np.isnan(raw.predict_proba(query)).all()

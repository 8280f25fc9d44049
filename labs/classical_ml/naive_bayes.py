"""Naive Bayes: Gaussian for continuous features, multinomial for word counts.

    from labs.classical_ml.naive_bayes import GaussianNaiveBayes, MultinomialNaiveBayes
    nb = GaussianNaiveBayes().fit(X, y)           # same maths as sklearn GaussianNB
    nb.predict(X_val), nb.predict_proba(X_val)
    counts, vocab = bag_of_words(["the puppy is happy", ...])
    MultinomialNaiveBayes(alpha=1.0).fit(counts, labels)

Bayes' rule with the *naive* assumption that features are independent given
the class:

    log P(c | x) = log P(c) + sum_j log P(x_j | c) - log P(x)        (1)

Everything is computed in logs: a product of hundreds of small likelihoods
underflows to 0 in floating point, a sum of their logs does not. ``log P(x)``
is the log-sum-exp of the numerators over classes.

Run the checks with ``labkit check classical_ml`` (milestone m4).
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from labs.classical_ml.validation import (
    check_features,
    check_fitted,
    check_positive,
    check_xy,
    encode_labels,
)

log = logging.getLogger(__name__)


def log_posterior(joint: np.ndarray) -> np.ndarray:
    """Normalise joint log-likelihoods into log posteriors, row-wise.

    ``log P(c | x) = joint[c] - logsumexp(joint)``, with the maximum
    subtracted first so ``exp`` cannot overflow (or underflow every class).

    Args:
        joint: ``log P(c) + log P(x | c)``, shape (n, K).

    Returns:
        shape (n, K); each row's ``exp`` sums to 1. A row where every class
        has probability 0 (all ``-inf``, possible with ``alpha = 0``) has no
        posterior (0/0) and comes back as NaN.
    """
    # BEGIN SOLUTION m4: subtract the row max, log-sum-exp, and subtract that from every entry
    top = joint.max(axis=1, keepdims=True)  # (n, 1)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # all -inf rows -> NaN
        log_evidence = top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True))
        return joint - log_evidence
    # END SOLUTION


class NaiveBayes(ABC):
    """Posteriors and predictions from a model's joint log-likelihood (given).

    Both models below differ only in ``P(x | c)``; turning ``log P(c) +
    log P(x | c)`` into probabilities and labels is the same for both.
    """

    classes_: np.ndarray | None

    @abstractmethod
    def joint_log_likelihood(self, X: npt.ArrayLike) -> np.ndarray:
        """``log P(c) + log P(x | c)`` per row and class, shape (n, K)."""

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:
        """Posterior class probabilities, shape (n, K)."""
        return np.exp(log_posterior(self.joint_log_likelihood(X)))

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """The most probable class (the smallest label on an exact tie)."""
        joint = self.joint_log_likelihood(X)
        assert self.classes_ is not None
        return self.classes_[joint.argmax(axis=1)]


class GaussianNaiveBayes(NaiveBayes):
    """Naive Bayes with one Gaussian per (class, feature).

    ``P(x_j | c) = N(x_j; theta_cj, var_cj)``, so the joint log-likelihood is

        log P(c) - 1/2 sum_j [ log(2 pi var_cj) + (x_j - theta_cj)^2 / var_cj ].

    ``theta`` and ``var`` are the per-class mean and (population) variance.
    Like scikit-learn's ``GaussianNB``, ``epsilon = var_smoothing *
    max_j var(x_j)`` is added to every variance so a feature that is constant
    within a class cannot divide by zero. Priors are the class frequencies.

    After ``fit``: ``classes_``, ``class_prior_`` (K,), ``theta_`` (K, d),
    ``var_`` (K, d), ``epsilon_``.
    """

    def __init__(self, var_smoothing: float = 1e-9):
        self.var_smoothing = check_positive(
            var_smoothing, "var_smoothing", allow_zero=True
        )
        self.classes_: np.ndarray | None = None

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> GaussianNaiveBayes:
        X, labels = check_xy(X, y)
        self.classes_, codes = encode_labels(labels)
        K = len(self.classes_)
        # BEGIN SOLUTION m4: per class, the prior (frequency), feature means and population variances plus epsilon
        self.epsilon_ = self.var_smoothing * float(np.var(X, axis=0).max())
        counts = np.bincount(codes, minlength=K)  # (K,)
        self.class_prior_ = counts / len(X)
        self.theta_ = np.stack([X[codes == c].mean(axis=0) for c in range(K)])  # (K, d)
        self.var_ = (
            np.stack([X[codes == c].var(axis=0) for c in range(K)]) + self.epsilon_
        )  # (K, d)
        # END SOLUTION
        return self

    def joint_log_likelihood(self, X: npt.ArrayLike) -> np.ndarray:
        """``log P(c) + log P(x | c)`` per row and class, shape (n, K)."""
        check_fitted(self, "classes_")
        X = check_features(self, X, self.theta_.shape[1])
        # BEGIN SOLUTION m4: log prior plus the sum over features of the Gaussian log densities, vectorised over (n, K, d)
        log_norm = -0.5 * np.log(2.0 * np.pi * self.var_).sum(axis=1)  # (K,)
        sq = ((X[:, None, :] - self.theta_[None]) ** 2 / self.var_[None]).sum(
            axis=2
        )  # (n, K)
        return np.log(self.class_prior_) + log_norm - 0.5 * sq
        # END SOLUTION


def bag_of_words(
    docs: Sequence[str], vocabulary: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Word counts: lowercase, split on anything but letters and apostrophes.

    Args:
        docs: the texts.
        vocabulary: the words to count, in column order; ``None`` builds it
            from ``docs`` (sorted). Words outside it are ignored, and counted
            in the log so the loss is visible.

    Returns:
        ``(counts, vocabulary)`` with counts of shape (len(docs), len(vocabulary)).
    """
    tokens = [re.findall(r"[a-z']+", doc.lower()) for doc in docs]
    if vocabulary is None:
        vocabulary = sorted({word for doc in tokens for word in doc})
    column = {word: j for j, word in enumerate(vocabulary)}
    counts = np.zeros((len(docs), len(column)))
    unknown = 0
    for i, doc in enumerate(tokens):
        for word in doc:
            if word in column:
                counts[i, column[word]] += 1
            else:
                unknown += 1
    if unknown:
        log.info("bag_of_words: %d words outside the vocabulary were ignored", unknown)
    return counts, list(vocabulary)


class MultinomialNaiveBayes(NaiveBayes):
    """Naive Bayes for counts (words), with Laplace / Lidstone smoothing.

    Each class is a bag of words with word probabilities

        P(w | c) = (N_cw + alpha) / (N_c + alpha * V),

    ``N_cw`` the count of word ``w`` in class ``c``, ``N_c`` all words in
    ``c``, ``V`` the vocabulary size. ``alpha = 1`` is Laplace smoothing; with
    ``alpha = 0`` a word never seen in a class gives that class probability 0
    (log = -inf) for every document containing it, however strong the rest of
    the evidence. The joint log-likelihood of a count vector x is
    ``log P(c) + sum_w x_w log P(w | c)`` (the multinomial coefficient is the
    same for every class and cancels). scikit-learn's ``MultinomialNB``
    computes the same.

    After ``fit``: ``classes_``, ``class_log_prior_`` (K,),
    ``feature_count_`` (K, V) and ``feature_log_prob_`` (K, V).
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = check_positive(alpha, "alpha", allow_zero=True)
        self.classes_: np.ndarray | None = None

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> MultinomialNaiveBayes:
        X, labels = check_xy(X, y)
        if (X < 0).any():
            raise ValueError(
                "multinomial naive Bayes needs non-negative counts; X has negative "
                "entries (use GaussianNaiveBayes for continuous features)."
            )
        self.classes_, codes = encode_labels(labels)
        K = len(self.classes_)
        # BEGIN SOLUTION m4: class log priors, per-class word counts, and smoothed log word probabilities
        one_hot = np.zeros((len(X), K))
        one_hot[np.arange(len(X)), codes] = 1.0
        self.class_log_prior_ = np.log(one_hot.sum(axis=0) / len(X))  # (K,)
        self.feature_count_ = one_hot.T @ X  # (K, V)
        smoothed = self.feature_count_ + self.alpha
        with np.errstate(divide="ignore"):  # alpha = 0: unseen words give log 0 = -inf
            self.feature_log_prob_ = np.log(smoothed) - np.log(
                smoothed.sum(axis=1, keepdims=True)
            )
        # END SOLUTION
        return self

    def joint_log_likelihood(self, X: npt.ArrayLike) -> np.ndarray:
        """``log P(c) + sum_w x_w log P(w | c)``, shape (n, K)."""
        check_fitted(self, "classes_")
        X = check_features(self, X, self.feature_log_prob_.shape[1])
        # BEGIN SOLUTION m4: one matrix product of counts with log word probabilities, plus the log prior (0 * -inf counts as 0)
        log_prob = np.where(
            np.isfinite(self.feature_log_prob_), self.feature_log_prob_, 0.0
        )
        joint = X @ log_prob.T + self.class_log_prior_  # (n, K)
        # A word the class never saw (log P = -inf) rules the class out.
        impossible = (X > 0).astype(float) @ (~np.isfinite(self.feature_log_prob_)).T
        return np.where(impossible > 0, -np.inf, joint)
        # END SOLUTION

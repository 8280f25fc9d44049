"""ROC AUC from ranks, and the best AUC any model can reach on ShopStream.

ShopStream keeps the true click probability ``p_click`` of every impression.
Scoring with it is the Bayes-optimal ranking: no model that sees only the
features can order clicks above non-clicks better on average. The AUC of that
score on the realised labels is the ceiling every lab's model is measured
against ("our model: 0.741, Bayes: 0.792, gap 0.051").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def _tie_groups(
    scores: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Sort scores and split them into runs of equal values.

    Returns:
        ``(order, starts, group)``: the ascending argsort, the sorted index where
        each run of ties starts, and the run number of each sorted position.
    """
    order = np.argsort(scores)  # ties are grouped below, so stability is moot
    ordered = scores[order]
    is_start = np.empty(len(ordered), dtype=bool)
    is_start[:1] = True
    is_start[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(is_start)
    group = np.cumsum(is_start) - 1
    return order, starts, group


def roc_auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """ROC AUC by the Mann-Whitney U statistic, ties counted one half.

    ``AUC = U / (n+ n-)`` with ``U = #{(i, j): y_i = 1, y_j = 0, s_i > s_j}
    + #{..., s_i = s_j} / 2``: the probability that a random positive scores
    above a random negative. This equals the rank form
    ``(R+ - n+ (n+ + 1) / 2) / (n+ n-)`` with tie-averaged ranks ``R+``; one
    sort, then counting per run of tied scores, so O(n log n). Agrees with
    ``sklearn.metrics.roc_auc_score``.

    Args:
        labels: 0/1 (or bool) outcomes, shape ``(n,)``.
        scores: higher means more likely positive, shape ``(n,)``.

    Raises:
        ValueError: on mismatched lengths, labels other than 0/1, or when
            only one class is present (the AUC is undefined then).
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(
            f"labels and scores must be 1-d and the same length, "
            f"got shapes {y.shape} and {s.shape}"
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError(
            "labels must be 0/1; drop corrupted rows (e.g. clicked == 2) first"
        )
    pos = y.astype(bool)
    n_pos = int(pos.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"AUC needs both classes, got {n_pos} positives and {n_neg} negatives"
        )
    # Per run of tied scores, count positives and negatives; a positive beats
    # every negative in lower runs and half of those in its own run. Sequential
    # passes over the sorted order only: no rank array to scatter back.
    order, starts, group = _tie_groups(s)
    pos_in = np.bincount(group, weights=pos[order], minlength=len(starts))
    neg_in = np.bincount(group, minlength=len(starts)) - pos_in
    neg_below = np.cumsum(neg_in) - neg_in
    wins = float(pos_in @ neg_below) + 0.5 * float(pos_in @ neg_in)
    return wins / (n_pos * n_neg)


def bayes_optimal_auc(clicked: npt.ArrayLike, p_click: npt.ArrayLike) -> float:
    """The AUC of the hidden true probability against the realised clicks.

    Args:
        clicked: realised 0/1 click labels (clean rows only).
        p_click: the generator's true click probability of the same rows.

    Returns:
        ``roc_auc(clicked, p_click)``: the ceiling for any model of this data.
    """
    return roc_auc(clicked, p_click)


def expected_bayes_auc(p_click: npt.ArrayLike) -> float:
    """The Bayes-optimal AUC expected before the labels are drawn.

    Each row is a positive with weight ``p_i`` and a negative with weight
    ``1 - p_i``. Counting the pairs of distinct rows that the true probability
    orders correctly,

        AUC* = sum_{i != j} p_i (1 - p_j) ([p_i > p_j] + [p_i == p_j] / 2)
               / sum_{i != j} p_i (1 - p_j),

    the ratio of the expected correctly ordered positive-negative pairs to the
    expected number of such pairs. On large samples the realised
    :func:`bayes_optimal_auc` concentrates around it, so it is the label-free
    answer to "how predictable is this traffic at all?".

    Args:
        p_click: true click probabilities, shape ``(n,)``.

    Raises:
        ValueError: if ``p_click`` has values outside [0, 1] or no pair of rows
            can form a positive-negative pair.
    """
    p = np.asarray(p_click, dtype=np.float64)
    if p.ndim != 1 or ((p < 0) | (p > 1)).any():
        raise ValueError("p_click must be a 1-d array of probabilities in [0, 1]")
    order, starts, group = _tie_groups(p)
    n_groups = len(starts)
    ordered = p[order]
    pos_w = np.bincount(group, weights=ordered, minlength=n_groups)  # sum p per run
    neg_w = np.bincount(group, weights=1.0 - ordered, minlength=n_groups)
    self_w = np.bincount(group, weights=ordered * (1.0 - ordered), minlength=n_groups)
    neg_below = np.cumsum(neg_w) - neg_w  # negative weight strictly below each run
    # Pairs (i, i) are excluded: a row is never both the positive and the negative.
    correct = pos_w @ neg_below + 0.5 * float((pos_w * neg_w - self_w).sum())
    total = float(pos_w.sum() * neg_w.sum() - self_w.sum())
    if total <= 0:
        raise ValueError("expected_bayes_auc needs some rows with 0 < p_click < 1")
    return float(correct / total)

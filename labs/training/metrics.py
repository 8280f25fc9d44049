"""m2 — the metrics a click model is judged by: ranking, likelihood, calibration,
and the distance to the best any model can do.

    from labs.training import evaluate
    evaluate(test["clicked"], scores, p_click=test["p_click"])
    # {"auc": 0.67, "log_loss": 0.17, "ece": 0.004, "bayes_auc": 0.81, "gap_closed": 0.55, ...}

- **ROC AUC** ranks: the chance a random click scores above a random non-click.
  It ignores the scale of the scores, so a model can rank well and still
  predict CTRs that are off by 2x.
- **Log loss** is the likelihood of the labels: it punishes confident
  mistakes and rewards calibrated probabilities.
- **Expected calibration error** bins the predictions and compares each bin's
  mean prediction with its observed click rate.
- **Gap closed** places the AUC between a constant predictor (0.5) and the
  Bayes-optimal ranking by ShopStream's hidden ``p_click``.

Every function takes 1-d labels (0/1) and scores or probabilities of the
same length and checks them first; the tests compare them with
``sklearn.metrics`` and ``sklearn.calibration.calibration_curve``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

BinStrategy = Literal["quantile", "uniform"]
EPS = 1e-15  # probabilities are clipped to [EPS, 1 - EPS] in the log loss


def _check(
    y: npt.ArrayLike, p: npt.ArrayLike, *, probabilities: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    labels = np.asarray(y, dtype=np.float64)
    scores = np.asarray(p, dtype=np.float64)
    if labels.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(
            f"labels and scores must be 1-d and the same length, got shapes "
            f"{labels.shape} and {scores.shape}."
        )
    if len(labels) == 0:
        raise ValueError("no rows to score: labels and scores are empty.")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1; drop corrupted rows (clicked == 2).")
    if not np.isfinite(scores).all():
        raise ValueError(
            f"scores must be finite, got {int((~np.isfinite(scores)).sum())} NaN/inf."
        )
    if probabilities and ((scores < 0) | (scores > 1)).any():
        raise ValueError(
            f"probabilities must lie in [0, 1], got min {scores.min()} and max "
            f"{scores.max()}; pass sigmoid(logits), not the logits."
        )
    return labels, scores


def roc_auc(y: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """ROC AUC by ranks (the Mann-Whitney U statistic), ties counted one half.

    With ``R+`` the sum of the positives' ranks among all scores (tied
    scores share their average rank),

        AUC = (R+ − n+ (n+ + 1) / 2) / (n+ · n−),

    the share of (click, non-click) pairs the scores order correctly.
    O(n log n): one sort.

    Raises:
        ValueError: bad shapes or labels, or only one class present.
    """
    labels, s = _check(y, scores, probabilities=False)
    n_pos = float(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"AUC needs clicks and non-clicks, got {int(n_pos)} and {int(n_neg)}."
        )
    # BEGIN SOLUTION m2: average ranks of the scores (ties share the mean rank), then the rank-sum formula
    order = np.argsort(s, kind="mergesort")
    ordered = s[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(s)]  # exclusive end of each run of ties
    average = (starts + 1 + ends) / 2.0  # mean of the 1-based ranks starts+1..ends
    ranks = np.empty(len(s))
    ranks[order] = np.repeat(average, ends - starts)
    rank_sum = float(ranks @ labels)
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    # END SOLUTION


def log_loss(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean negative log-likelihood of the labels: ``−mean(y log p + (1−y) log(1−p))``.

    Probabilities are clipped to ``[1e-15, 1 − 1e-15]`` so one confident miss
    costs ~34.5 nats rather than infinity.
    """
    labels, probs = _check(y, p, probabilities=True)
    # BEGIN SOLUTION m2: clip, then the mean binary cross-entropy
    q = np.clip(probs, EPS, 1.0 - EPS)
    return float(-np.mean(labels * np.log(q) + (1.0 - labels) * np.log1p(-q)))
    # END SOLUTION


@dataclass(frozen=True)
class CalibrationBins:
    """Per-bin calibration: what the model predicted against what happened.

    Attributes:
        edges: the ``n_bins + 1`` bin edges.
        count: rows per bin.
        mean_predicted: the mean prediction in each bin (NaN if empty).
        observed_rate: the click rate in each bin (NaN if empty).
    """

    edges: npt.NDArray[np.float64]
    count: npt.NDArray[np.int64]
    mean_predicted: npt.NDArray[np.float64]
    observed_rate: npt.NDArray[np.float64]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "bin": k,
                "rows": int(self.count[k]),
                "mean predicted": float(self.mean_predicted[k]),
                "observed CTR": float(self.observed_rate[k]),
            }
            for k in range(len(self.count))
            if self.count[k]
        ]


def calibration_bins(
    y: npt.ArrayLike,
    p: npt.ArrayLike,
    n_bins: int = 10,
    strategy: BinStrategy = "quantile",
) -> CalibrationBins:
    """Bin the predictions and compare each bin's mean prediction with its CTR.

    Binning (the same as ``sklearn.calibration.calibration_curve``):

    - ``quantile`` (default): edges at the 0, 1/k, ..., 1 quantiles of ``p``
      (``np.percentile``), so bins hold about equally many rows. A CTR model
      predicts almost everything below 0.1; ten equal-width bins would put
      nearly every row in the first bin and say nothing.
    - ``uniform``: ``k`` equal-width bins over [0, 1].

    A prediction goes to bin ``b`` = the number of *inner* edges strictly
    below it (``np.searchsorted(edges[1:-1], p, side="left")``): bins are
    closed on the right, and the first bin also takes everything at or
    below its upper edge.
    """
    labels, probs = _check(y, p, probabilities=True)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}.")
    if strategy == "quantile":
        # Percentiles as sklearn writes them: linspace(0, 100) rounds some
        # of them differently, and with tied predictions an edge can then
        # land on the other side of a tie.
        edges = np.percentile(probs, np.linspace(0.0, 1.0, n_bins + 1) * 100)
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}.")
    # BEGIN SOLUTION m2: assign each prediction to a bin (searchsorted on the inner edges) and aggregate count, mean prediction and click rate per bin
    bins = np.searchsorted(edges[1:-1], probs, side="left")
    count = np.bincount(bins, minlength=n_bins)
    predicted = np.bincount(bins, weights=probs, minlength=n_bins)
    clicks = np.bincount(bins, weights=labels, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.where(count > 0, predicted / count, np.nan)
        observed_rate = np.where(count > 0, clicks / count, np.nan)
    return CalibrationBins(edges, count, mean_predicted, observed_rate)
    # END SOLUTION


def expected_calibration_error(
    y: npt.ArrayLike,
    p: npt.ArrayLike,
    n_bins: int = 10,
    strategy: BinStrategy = "quantile",
) -> float:
    """ECE = Σ_b (n_b / n) · |mean_predicted_b − observed_rate_b| over non-empty bins.

    In CTR units (0.004 = predictions off by 0.4 points on average, weighted
    by rows). Binning as in :func:`calibration_bins`; ECE depends on it, so
    quote the strategy and ``n_bins`` with the number.
    """
    # BEGIN SOLUTION m2: weight each non-empty bin's |mean predicted − observed| by its share of rows
    table = calibration_bins(y, p, n_bins, strategy)
    used = table.count > 0
    weights = table.count[used] / table.count.sum()
    gaps = np.abs(table.mean_predicted[used] - table.observed_rate[used])
    return float(weights @ gaps)
    # END SOLUTION


def gap_closed(auc: float, bayes_auc: float, floor: float = 0.5) -> float:
    """The share of the gap from a constant predictor to the Bayes-optimal AUC closed.

        gap_closed = (auc − floor) / (bayes_auc − floor)

    0 is no better than a constant (AUC 0.5), 1 ranks as well as the true
    click probability. Raises when the Bayes AUC is not above the floor.
    """
    if not bayes_auc > floor:
        raise ValueError(
            f"bayes_auc ({bayes_auc}) must exceed the floor ({floor}) for a gap to exist."
        )
    # BEGIN SOLUTION m2: the fraction of (bayes − floor) that (auc − floor) covers
    return (auc - floor) / (bayes_auc - floor)
    # END SOLUTION


def evaluate(
    y: npt.ArrayLike,
    p: npt.ArrayLike,
    p_click: npt.ArrayLike | None = None,
    n_bins: int = 10,
) -> dict[str, float]:
    """All the figures for one model on one split.

    Returns:
        ``rows``, ``ctr``, ``mean_prediction``, ``auc``, ``log_loss``, ``ece``
        (10 quantile bins) and, with ``p_click``, ``bayes_auc`` and ``gap_closed``.
    """
    labels = np.asarray(y, dtype=np.float64)
    probs = np.asarray(p, dtype=np.float64)
    out = {
        "rows": len(labels),
        "ctr": float(labels.mean()),
        "mean_prediction": float(probs.mean()),
        "auc": roc_auc(labels, probs),
        "log_loss": log_loss(labels, probs),
        "ece": expected_calibration_error(labels, probs, n_bins),
    }
    if p_click is not None:
        out["bayes_auc"] = roc_auc(labels, np.asarray(p_click, dtype=np.float64))
        out["gap_closed"] = gap_closed(out["auc"], out["bayes_auc"])
    return out

"""m2 — metrics checked against scikit-learn, and the scikit-learn baseline."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression

from labs.training import (
    calibration_bins,
    evaluate,
    expected_calibration_error,
    fit_baseline,
    gap_closed,
    log_loss,
    predict_baseline,
    roc_auc,
)


@st.composite
def labelled_scores(draw, low: float = 0.0, high: float = 1.0, coarse: bool = True):
    n = draw(st.integers(2, 120))
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 1)))
    assume(0 < labels.sum() < n)
    if coarse:  # few distinct values: plenty of ties
        grid = np.linspace(low, high, draw(st.integers(2, 8)))
        scores = grid[
            draw(hnp.arrays(np.int64, n, elements=st.integers(0, len(grid) - 1)))
        ]
    else:
        scores = draw(hnp.arrays(np.float64, n, elements=st.floats(low, high)))
    return labels, scores


@given(labelled_scores(coarse=True))
def test_roc_auc_matches_sklearn_with_ties(case) -> None:
    labels, scores = case
    assert roc_auc(labels, scores) == pytest.approx(
        skm.roc_auc_score(labels, scores), abs=1e-12
    )


@given(labelled_scores(coarse=False, low=-5.0, high=5.0))
def test_roc_auc_matches_sklearn_on_any_scores(case) -> None:
    labels, scores = case
    assert roc_auc(labels, scores) == pytest.approx(
        skm.roc_auc_score(labels, scores), abs=1e-12
    )


@given(labelled_scores(coarse=False, low=1e-6, high=1 - 1e-6))
def test_log_loss_matches_sklearn(case) -> None:
    labels, probs = case
    assert log_loss(labels, probs) == pytest.approx(
        skm.log_loss(labels, probs), rel=1e-9
    )


def test_log_loss_clips_certain_mistakes() -> None:
    # One row predicted 0 that clicked: -log(1e-15) = 34.54, not infinity.
    assert log_loss([1, 0], [0.0, 0.0]) == pytest.approx(-np.log(1e-15) / 2, rel=1e-6)
    assert log_loss([1, 0], [1.0, 0.0]) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
@given(case=labelled_scores(coarse=False, low=0.0, high=0.3), n_bins=st.integers(1, 12))
def test_calibration_bins_match_sklearn(case, n_bins, strategy) -> None:
    labels, probs = case
    table = calibration_bins(labels, probs, n_bins, strategy)
    true, pred = calibration_curve(labels, probs, n_bins=n_bins, strategy=strategy)
    used = table.count > 0
    assert table.count.sum() == len(labels)
    np.testing.assert_allclose(table.observed_rate[used], true, rtol=1e-12)
    np.testing.assert_allclose(table.mean_predicted[used], pred, rtol=1e-12)


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
@given(case=labelled_scores(coarse=True, low=0.0, high=0.4), n_bins=st.integers(1, 10))
def test_ece_matches_a_brute_force_loop(case, n_bins, strategy) -> None:
    labels, probs = case
    if strategy == "quantile":
        edges = np.percentile(probs, np.linspace(0, 1, n_bins + 1) * 100)
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    members: dict[int, list[int]] = {}
    for row, p in enumerate(probs):  # bin = inner edges strictly below p
        members.setdefault(sum(1 for e in edges[1:-1] if e < p), []).append(row)
    expected = sum(
        len(rows) / len(probs) * abs(np.mean(probs[rows]) - np.mean(labels[rows]))
        for rows in members.values()
    )
    got = expected_calibration_error(labels, probs, n_bins, strategy)
    assert got == pytest.approx(expected, abs=1e-12)


def test_gap_closed_and_evaluate(splits) -> None:
    assert gap_closed(0.5, 0.8) == 0.0 and gap_closed(0.8, 0.8) == 1.0
    assert gap_closed(0.65, 0.8) == pytest.approx(0.5)
    y, truth = splits.test["clicked"], splits.test["p_click"]
    figures = evaluate(y, truth, truth)  # the truth scores as well as the truth
    assert figures["bayes_auc"] == pytest.approx(skm.roc_auc_score(y, truth))
    assert figures["gap_closed"] == pytest.approx(1.0)


def test_baseline_beats_a_constant_and_is_calibrated(tiny_set, splits) -> None:
    pipeline = fit_baseline(splits.train, tiny_set.features, tiny_set.defaults)
    assert isinstance(pipeline.steps[-1][1], LogisticRegression)
    test = splits.test
    probs = predict_baseline(pipeline, test)
    figures = evaluate(test["clicked"], probs, test["p_click"])
    constant = np.full(len(test), splits.train["clicked"].mean())
    assert figures["auc"] > 0.62, figures
    assert figures["log_loss"] < skm.log_loss(test["clicked"], constant)
    assert figures["ece"] < 0.02, figures
    assert 0.2 < figures["gap_closed"] < 1.0
    # The pipeline reads raw store features, nulls included, in any column order.
    shuffled = test[list(reversed(tiny_set.features))]
    np.testing.assert_allclose(predict_baseline(pipeline, shuffled), probs)

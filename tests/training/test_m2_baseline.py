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


def test_baseline_beats_a_constant_and_is_calibrated(
    baseline, tiny_set, splits
) -> None:
    pipeline = baseline
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


def _documented_features(train, rows, features, defaults) -> dict[str, np.ndarray]:
    """The brief's preprocessing by hand: the columns the model must see, by name.

    Counts: the store's default for nulls, then log1p. Rates: the training mean
    for nulls, plus a 0/1 "was missing" column for every rate that had nulls in
    training. Every column standardised with the training mean and std.
    """
    columns = {}
    for name in features:
        fitted = train[name].to_numpy(dtype=float)
        applied = rows[name].to_numpy(dtype=float)
        if name in defaults:
            fill = defaults[name]
            columns[name] = [
                np.log1p(np.where(np.isnan(v), fill, v)) for v in (fitted, applied)
            ]
        else:
            mean = np.nanmean(fitted)
            columns[name] = [np.where(np.isnan(v), mean, v) for v in (fitted, applied)]
            if np.isnan(fitted).any():
                columns[f"{name} missing"] = [
                    np.isnan(v).astype(float) for v in (fitted, applied)
                ]
    out = {}
    for name, (fitted, applied) in columns.items():
        scale = fitted.std() if fitted.std() > 0 else 1.0
        out[name] = (applied - fitted.mean()) / scale
    return out


def test_baseline_features_are_the_documented_preprocessing(tiny_set, splits) -> None:
    features, defaults = tiny_set.features, tiny_set.defaults
    train = splits.train.iloc[-8000:]  # enough rows for every kind of column
    pipeline = fit_baseline(train, features, defaults, C=0.25)
    model = pipeline.steps[-1][1]
    assert isinstance(model, LogisticRegression)
    assert model.C == 0.25, "make_baseline must pass its C to the LogisticRegression"
    rows = splits.test.iloc[:2000]
    got = pipeline[:-1].transform(rows[features])  # every step before the model
    expected = _documented_features(train, rows, features, defaults)
    assert got.shape == (len(rows), len(expected)), (
        f"{got.shape[1]} columns reach the model; the documented preprocessing "
        f"makes {len(expected)}: {list(expected)}"
    )
    unmatched = list(range(got.shape[1]))
    for name, column in expected.items():  # in any column order
        match = next(
            (j for j in unmatched if np.allclose(got[:, j], column, atol=1e-8)), None
        )
        assert match is not None, (
            f"no column the model sees is {name!r} as documented (nulls filled, "
            "log1p for counts, a missing flag for rates, standardised with the "
            "training mean and std)"
        )
        unmatched.remove(match)

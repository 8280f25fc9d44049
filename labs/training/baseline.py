"""m2 — the scikit-learn baseline: a logistic regression on the store's features.

    from labs.training import fit_baseline
    baseline = fit_baseline(splits.train, data.features, data.defaults)
    p = baseline.predict_proba(splits.test[data.features])[:, 1]

Every model the team ships must beat this. It is one ``Pipeline``, so the
preprocessing fitted on the training split travels with the model:

- counts and sums (features the store gives a default, e.g. ``clicks_1h``):
  nulls → the store's default, then ``log1p`` (their tails are long);
- rates (``ctr_24h``, ``ctr_7d``, null when nothing was shown): nulls → the
  training mean, plus a 0/1 "was missing" column;
- everything standardised, then ``LogisticRegression`` (L2, C=1).

Scaling matters: without it the L2 penalty weighs features by their units
and lbfgs converges slowly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from labs.training.dataset import LABEL


def split_features(
    features: Sequence[str], defaults: Mapping[str, float]
) -> tuple[list[str], list[str]]:
    """``(counts, rates)``: features with a declared default, and the rest."""
    counts = [f for f in features if f in defaults]
    rates = [f for f in features if f not in defaults]
    return counts, rates


def fill_then_log1p(values: np.ndarray, fill: Sequence[float]) -> np.ndarray:
    """Replace nulls column by column with ``fill``, then ``log1p`` (counts are ≥ 0)."""
    values = np.asarray(values, dtype=np.float64)
    return np.log1p(np.where(np.isnan(values), np.asarray(fill), values))


def make_baseline(
    features: Sequence[str], defaults: Mapping[str, float], C: float = 1.0
) -> Pipeline:
    """An unfitted ``Pipeline``: impute, ``log1p`` counts, scale, logistic regression.

    Args:
        features: the ``"view:feature"`` columns the pipeline reads, in order.
        defaults: the store's declared defaults (counts and sums: 0).
        C: inverse L2 strength of the logistic regression.
    """
    counts, rates = split_features(features, defaults)
    if not features:
        raise ValueError("the baseline needs at least one feature.")
    # BEGIN SOLUTION m2: a ColumnTransformer (counts: fill the default then log1p; rates: mean-impute with a missing indicator), a StandardScaler, a LogisticRegression
    steps = []
    if counts:
        fill = [float(defaults[f]) for f in counts]
        log_counts = FunctionTransformer(
            fill_then_log1p, kw_args={"fill": fill}, feature_names_out="one-to-one"
        )
        steps.append(("counts", log_counts, counts))
    if rates:
        steps.append(
            ("rates", SimpleImputer(strategy="mean", add_indicator=True), rates)
        )
    columns = ColumnTransformer(steps, remainder="drop")
    return Pipeline(
        [
            ("features", columns),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=C, max_iter=1000)),
        ]
    )
    # END SOLUTION


def fit_baseline(
    train: pd.DataFrame,
    features: Sequence[str],
    defaults: Mapping[str, float],
    C: float = 1.0,
) -> Pipeline:
    """Fit :func:`make_baseline` on the training split's features and clicks."""
    missing = [f for f in features if f not in train.columns]
    if missing:
        raise ValueError(f"the training frame lacks feature columns {missing}.")
    pipeline = make_baseline(features, defaults, C)
    pipeline.fit(train[list(features)], train[LABEL].to_numpy())
    return pipeline


def predict_baseline(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """Click probabilities for ``frame``'s rows, shape ``(n,)``."""
    columns = list(pipeline.feature_names_in_)
    return pipeline.predict_proba(frame[columns])[:, 1]

"""m4 — the leakage experiment: the same model on a naive join and on the point-in-time join.

    from labs.training import leakage_experiment
    report = leakage_experiment(store, data, splits, TrainConfig())
    report.rows        # model, validated on, valid AUC, AUC on the point-in-time holdout

The naive join is the bug from the feature-store brief, made by a training
pipeline: every row takes its user's and its item's **latest** feature
values, as of the end of the data, whatever the row's own time. Those
values were computed from the row's own click and from clicks that
happened after it (``ctr_7d`` at the end of the log covers the whole week),
so a model trained and validated that way looks better than any honest
model. Scored on a holdout built with the point-in-time join, which is
what serving will feed it, it is worse: it learned to read values that
will never again contain the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from labs.training.dataset import LABEL, TRUTH, Splits, TrainingSet
from labs.training.metrics import evaluate
from labs.training.train import TrainConfig, TrainResult, fit


def group_features(store: Any, features: Sequence[str]) -> dict[str, list[str]]:
    """``{"view": ["feature", ...]}`` for ``"view:feature"`` names, in order."""
    valid = set(store.feature_names())
    unknown = [f for f in features if f not in valid]
    if unknown:
        raise ValueError(
            f"unknown features {unknown}; valid: {sorted(valid)} (store.feature_names())."
        )
    grouped: dict[str, list[str]] = {}
    for ref in features:
        view, _, name = ref.partition(":")
        grouped.setdefault(view, []).append(name)
    return grouped


def naive_join(
    store: Any, labels: pd.DataFrame, features: Sequence[str]
) -> pd.DataFrame:
    """The leaky join: each row gets its entities' latest feature values, ignoring time.

    For every view, the entity's last feature row in the whole store (largest
    ``event_timestamp``, then ``created_timestamp``, then the later row) is
    attached to *every* label row of that entity, no TTL. An entity with no
    feature row gets NaN.

    Args:
        store: a ``labs.feature_store.FeatureStore`` (``store.views``,
            ``store.feature_rows(view)``).
        labels: rows with ``user_id`` and ``item_id`` (each view's key, or
            what the store derives it from).
        features: ``"view:feature"`` names.

    Returns:
        ``labels`` (same rows, order and index) plus one column per feature.
    """
    grouped = group_features(store, features)
    given = list(labels.columns)
    # A pair-keyed view (user_category) reads a key the store derives from
    # user_id and item_id; add it, as the point-in-time join does.
    labels = store.with_keys(labels, list(grouped))
    out = labels.copy()
    # BEGIN SOLUTION m4: per view, keep each entity's last feature row (sort by key, event and created time; keep the last per key) and map it onto every label row by key
    for view_name, names in grouped.items():
        key = store.views[view_name].entity
        rows = store.feature_rows(view_name)
        latest = (
            rows.sort_values(
                [key, "event_timestamp", "created_timestamp"], kind="stable"
            )
            .drop_duplicates(key, keep="last")
            .set_index(key)
        )
        for name in names:
            out[f"{view_name}:{name}"] = (
                labels[key]
                .map(latest[name])
                .to_numpy(dtype=np.float64, na_value=np.nan)
            )
    # END SOLUTION
    return out[[*given, *features]]


def same_rows(frame: pd.DataFrame, splits: Splits) -> Splits:
    """``frame``'s rows in the same train/valid/test as ``splits`` (by ``impression_id``)."""
    by_id = frame.set_index("impression_id", drop=False)
    parts = {
        name: by_id.loc[getattr(splits, name)["impression_id"].to_numpy()].reset_index(
            drop=True
        )
        for name in ("train", "valid", "test")
    }
    return Splits(
        parts["train"],
        parts["valid"],
        parts["test"],
        splits.cuts,
        splits.gap,
        splits.dropped,
        dict(splits.bounds),
    )


@dataclass
class LeakageReport:
    """The experiment's figures (all AUCs), and the two trained models."""

    pit_valid_auc: float  # PIT model, PIT validation split
    naive_valid_auc: float  # naive model, naive validation split (what it reports)
    pit_holdout_auc: float  # PIT model, PIT test split
    naive_holdout_auc: float  # naive model, PIT test split (what production sees)
    naive_test_auc_naive: float  # naive model, naive test split (still inflated)
    bayes_auc: float
    naive: TrainResult | None = field(default=None, repr=False)
    pit: TrainResult | None = field(default=None, repr=False)

    @property
    def inflation(self) -> float:
        """How much higher the naive validation AUC is than the honest one."""
        return self.naive_valid_auc - self.pit_valid_auc

    @property
    def holdout_loss(self) -> float:
        """How much AUC the naive model loses against the PIT one where it matters."""
        return self.pit_holdout_auc - self.naive_holdout_auc

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "model": "point-in-time join",
                "valid AUC (as reported)": self.pit_valid_auc,
                "test AUC, its own join": self.pit_holdout_auc,
                "test AUC, point-in-time holdout": self.pit_holdout_auc,
            },
            {
                "model": "naive join (latest values)",
                "valid AUC (as reported)": self.naive_valid_auc,
                "test AUC, its own join": self.naive_test_auc_naive,
                "test AUC, point-in-time holdout": self.naive_holdout_auc,
            },
        ]


def leakage_experiment(
    store: Any,
    data: TrainingSet,
    splits: Splits,
    config: TrainConfig | None = None,
    pit: TrainResult | None = None,
) -> LeakageReport:
    """Train the same model on the naive and the point-in-time join; compare.

    Args:
        store: the feature store the training set was joined from.
        data: the point-in-time training set (``load_training_set``).
        splits: its time split; the naive frames use exactly the same rows.
        config: the model's knobs (both models use them); the naive model
            trains for at most as many epochs as the point-in-time one did.
        pit: an already trained point-in-time model with ``config`` (saves a run).
    """
    config = config or TrainConfig()
    labels = data.frame.drop(columns=data.features)
    naive = same_rows(naive_join(store, labels, data.features), splits)
    if pit is None:
        pit = fit(splits.train, splits.valid, data.features, data.defaults, config)
    # The same budget: no more epochs than the honest run took (leaky features
    # keep "improving" on a leaky validation split for as long as you let them).
    config = config.replace(max_epochs=len(pit.history))
    # BEGIN SOLUTION m4: naive_model = fit(same config, naive train/valid); its predictions on naive.valid (naive_valid), naive.test (naive_test_own) and the point-in-time splits.test (naive_holdout)
    naive_model = fit(naive.train, naive.valid, data.features, data.defaults, config)
    naive_valid = naive_model.predictor.predict(naive.valid)
    naive_test_own = naive_model.predictor.predict(naive.test)
    naive_holdout = naive_model.predictor.predict(splits.test)
    # END SOLUTION
    pit_valid = pit.predictor.predict(splits.valid)
    pit_holdout = pit.predictor.predict(splits.test)
    test_y, test_truth = splits.test[LABEL], splits.test[TRUTH]
    return LeakageReport(
        pit_valid_auc=evaluate(splits.valid[LABEL], pit_valid)["auc"],
        naive_valid_auc=evaluate(naive.valid[LABEL], naive_valid)["auc"],
        pit_holdout_auc=evaluate(test_y, pit_holdout)["auc"],
        naive_holdout_auc=evaluate(test_y, naive_holdout)["auc"],
        naive_test_auc_naive=evaluate(naive.test[LABEL], naive_test_own)["auc"],
        bayes_auc=evaluate(test_y, pit_holdout, test_truth)["bayes_auc"],
        naive=naive_model,
        pit=pit,
    )

"""Fixtures for the training lab: the tiny training set, its split, trained models.

Everything expensive is session-scoped: the point-in-time training set (a
second), the default model (a few seconds) and the leakage experiment. The
Ray tests share the session-wide ``ray_session`` from ``tests/conftest.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from labs.training import (
    Splits,
    TrainConfig,
    TrainingSet,
    TrainResult,
    fit,
    load_training_set,
    time_split,
)

FRACTIONS = (0.7, 0.15, 0.15)


@pytest.fixture(scope="session")
def tiny_set() -> TrainingSet:
    return load_training_set("tiny", seed=0)


@pytest.fixture(scope="session")
def splits(tiny_set: TrainingSet) -> Splits:
    return time_split(tiny_set.frame, FRACTIONS)


@pytest.fixture(scope="session")
def store() -> Any:
    from labs.feature_store import build_store

    opened = build_store("tiny", seed=0)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def trained(tiny_set: TrainingSet, splits: Splits) -> TrainResult:
    """The default config trained on tiny's time split."""
    return fit(
        splits.train, splits.valid, tiny_set.features, tiny_set.defaults, TrainConfig()
    )

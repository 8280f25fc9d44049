"""m6 — Ray Tune (random search + ASHA) and Ray Train (DDP over gloo, 2 CPU workers).

Both share the session's local Ray (``ray_session``); on tiny they take
seconds of work and Ray's own start-up: worker processes that import Ray and
torch (about 20 s for the TorchTrainer on an idle 2-core machine, more when
the machine is busy), hence the longer timeout.
"""

from __future__ import annotations

import pytest

from labs.training import (
    Preprocessor,
    TrainConfig,
    train_data_parallel,
    train_single_process,
    tune_model,
)
from labs.training.train import validate

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def encoded(tiny_set, splits):
    config = TrainConfig()
    prep = Preprocessor.fit(
        splits.train, tiny_set.features, tiny_set.defaults, config.min_count
    )
    train = prep.encode(splits.train, with_label=True)
    valid = prep.encode(splits.valid, with_label=True)
    return train, valid, (prep.users.size, prep.items.size), config


def test_tune_runs_eight_trials_and_asha_stops_the_weak_ones(
    ray_session, encoded, tmp_path_factory
) -> None:
    train, valid, sizes, config = encoded
    report = tune_model(
        train,
        valid,
        sizes,
        config,
        num_samples=8,
        max_concurrent=2,
        max_epochs=2,  # ASHA's single rung at 1 epoch
        storage_path=tmp_path_factory.mktemp("tune"),
    )
    assert len(report.trials) >= 8
    assert sum(t["default"] for t in report.trials) == 1
    assert report.stopped_by_asha >= 1, report.trials
    assert all(1 <= t["epochs"] <= 2 for t in report.trials)
    assert report.best_valid_auc >= report.default_valid_auc
    assert report.default_valid_auc > 0.6


def test_ddp_on_two_workers_matches_single_process(
    ray_session, encoded, tmp_path_factory
) -> None:
    train, valid, sizes, config = encoded
    epochs = 2
    single = train_single_process(train, sizes, config, epochs)
    ddp = train_data_parallel(
        train,
        sizes,
        config,
        epochs,
        num_workers=2,
        cpus_per_worker=1.0,
        storage_path=tmp_path_factory.mktemp("ddp"),
    )
    assert ddp.workers == 2 and len(ddp.epoch_seconds) == epochs
    assert ddp.rows == single.rows - single.rows % 2
    ddp_auc, _ = validate(ddp.model, valid)
    single_auc, _ = validate(single.model, valid)
    assert ddp_auc > 0.6
    assert abs(ddp_auc - single_auc) <= 0.01, (ddp_auc, single_auc)

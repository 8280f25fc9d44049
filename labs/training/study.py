"""The steps ``run.py`` and ``bench.py`` share: data, split, the main model, Tune and DDP.

    study = prepare("small")            # training set, time split, the default MLP
    tune = run_tune(study)              # 8 trials on the most recent TUNE_ROWS rows
    single, ddp, *aucs = run_ddp(study) # the same epochs in one process and on 2 workers

Tune and DDP train on the most recent rows of the training split (a
subsample) so that ``labkit run`` fits the demo's time budget.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from labs.training.dataset import Splits, TrainingSet, load_training_set, time_split
from labs.training.distributed import (
    ParallelRun,
    train_data_parallel,
    train_single_process,
)
from labs.training.features import Encoded
from labs.training.production import FRACTIONS
from labs.training.train import TrainConfig, TrainResult, fit, validate
from labs.training.tune import TuneReport, tune_model

log = logging.getLogger(__name__)

TUNE_ROWS = 100_000  # most recent training rows each Tune trial trains on
TUNE_TRIALS = 8  # trials in all (the default config is the first)
TUNE_EPOCHS = 3  # ASHA's max_t: rungs at 1 and 2 epochs
DDP_ROWS = 100_000  # most recent training rows for the DDP comparison
DDP_EPOCHS = 2  # the first epoch is the warm-up; speed is the median of the rest
# Larger global batch sizes timed for one epoch each (the config's own batch is
# timed by the main comparison).
SPEED_BATCHES = [4096, 16384]


@dataclass
class Study:
    """What the run and the bench share: the data, the split and the main model."""

    data: TrainingSet
    splits: Splits
    result: TrainResult
    join_s: float
    fit_s: float


def prepare(preset: str, config: TrainConfig | None = None) -> Study:
    """Load the training set, split it by time and train the default model."""
    began = time.perf_counter()
    data = load_training_set(preset)
    join_s = time.perf_counter() - began
    splits = time_split(data.frame, FRACTIONS)
    log.info("training the MLP on %d rows", len(splits.train))
    began = time.perf_counter()
    result = fit(
        splits.train,
        splits.valid,
        data.features,
        data.defaults,
        config or TrainConfig(),
    )
    return Study(data, splits, result, join_s, time.perf_counter() - began)


def recent_rows(study: Study, rows: int) -> tuple[Encoded, Encoded, tuple[int, int]]:
    """The last ``rows`` training rows and the validation split, encoded."""
    prep = study.result.predictor.preprocessor
    train = prep.encode(study.splits.train.iloc[-rows:], with_label=True)
    valid = prep.encode(study.splits.valid, with_label=True)
    return train, valid, (prep.users.size, prep.items.size)


def run_tune(study: Study) -> TuneReport:
    train, valid, sizes = recent_rows(study, TUNE_ROWS)
    return tune_model(
        train,
        valid,
        sizes,
        study.result.config,
        num_samples=TUNE_TRIALS,
        max_concurrent=2,
        max_epochs=TUNE_EPOCHS,
    )


def run_ddp(study: Study) -> tuple[ParallelRun, ParallelRun, float, float]:
    """``(single, ddp, single valid AUC, ddp valid AUC)`` on the same rows and epochs."""
    train, valid, sizes = recent_rows(study, DDP_ROWS)
    config = study.result.config
    single = train_single_process(train, sizes, config, DDP_EPOCHS, SPEED_BATCHES)
    ddp = train_data_parallel(
        train, sizes, config, DDP_EPOCHS, num_workers=2, speed_batches=SPEED_BATCHES
    )
    return single, ddp, validate(single.model, valid)[0], validate(ddp.model, valid)[0]

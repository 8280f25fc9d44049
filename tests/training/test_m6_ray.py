"""m6 — Ray Tune (random search + ASHA) and Ray Train (DDP over gloo, 2 CPU workers).

Both share the session's local Ray (``ray_session``); on tiny they take
seconds of work and Ray's own start-up: worker processes that import Ray and
torch (about 20 s for the TorchTrainer on an idle 2-core machine, more when
the machine is busy), hence the longer timeout.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from labs.training import (
    train_data_parallel,
    train_single_process,
    tune_model,
)
from labs.training.predictor import logits_in_blocks
from labs.training.train import validate

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(300)]
DDP_WAIT_S = 150  # the TorchTrainer's run, start-up included


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
    # ASHA's decisions at its one rung (epoch 1): a trial whose AUC there is
    # below the median of the trials that reached it before is stopped. The
    # trial with the best AUC after epoch 1 must therefore run on, the worst
    # must stop, unless it was the first to report (nothing to compare with).
    # The first report comes from trial 0 or 1 (they start together); with
    # seed 0 the best and the worst trials are later ones.
    first = [curve[0] for curve in report.curves]
    best, worst = int(np.argmax(first)), int(np.argmin(first))
    assert min(best, worst) >= 2, (
        f"the seed no longer makes the best and worst trials late ones ({first}); "
        "pick another seed for this test"
    )
    assert len(report.curves[best]) == 2, (
        f"trial {best} had the best AUC after epoch 1 ({first[best]:.4f}) yet "
        f"reported {len(report.curves[best])} epoch(s): ASHA must let it run "
        "(mode='max' for an AUC; report after every epoch)"
    )
    assert report.trials[worst]["stopped by ASHA"], (
        f"trial {worst} had the worst AUC after epoch 1 ({first[worst]:.4f}) and "
        "ran on: ASHA must stop it (mode='max' for an AUC)"
    )


# Half a CPU each: on 2 cores, two workers that reserve whole CPUs wait for
# anything else the session's Ray still holds (Tune keeps its trial actors for
# reuse until they are collected), and wait forever if it never lets go.
CPUS_PER_WORKER = 0.5
FREE_CPU_WAIT_S = 30


def _wait_for_free_cpus(needed: float) -> None:
    """Bounded: until the session's Ray has ``needed`` CPUs free, or a clear failure."""
    import gc
    import time

    import ray

    gc.collect()  # releases actor handles of earlier tests kept only by cycles
    deadline = time.monotonic() + FREE_CPU_WAIT_S
    while (free := ray.available_resources().get("CPU", 0.0)) < needed:
        if time.monotonic() > deadline:
            pytest.fail(
                f"Ray has {free:g} CPUs free after {FREE_CPU_WAIT_S} s, the workers "
                f"need {needed:g}: an earlier test left actors holding them."
            )
        time.sleep(0.2)


def test_ddp_on_two_workers_matches_single_process(
    ray_session, encoded, tmp_path_factory
) -> None:
    train, valid, sizes, config = encoded
    epochs = 2
    _wait_for_free_cpus(2 * CPUS_PER_WORKER)
    # Bounded: a worker with one batch more than the other waits forever in
    # the all-reduce, and the test should say so in minutes, not at the timeout.
    done: dict = {}

    def run() -> None:
        try:
            done["run"] = train_data_parallel(
                train,
                sizes,
                config,
                epochs,
                num_workers=2,
                cpus_per_worker=CPUS_PER_WORKER,
                storage_path=storage,
            )
        except BaseException as exc:  # re-raised below, in the test
            done["error"] = exc

    storage = tmp_path_factory.mktemp("ddp")
    worker = threading.Thread(target=run, name="ddp-driver", daemon=True)
    worker.start()
    # The one-process run, while Ray starts the workers (seconds of waiting).
    single = train_single_process(train, sizes, config, epochs)
    worker.join(DDP_WAIT_S)
    if worker.is_alive():
        pytest.fail(
            f"the 2-worker TorchTrainer did not finish within {DDP_WAIT_S} s "
            "(about 20 s is usual): are the shards equal, so that every worker "
            "makes the same number of steps (all-reduces)?"
        )
    if "error" in done:
        raise done["error"]
    ddp = done["run"]
    assert ddp.workers == 2 and len(ddp.epoch_seconds) == epochs
    assert ddp.rows == single.rows - single.rows % 2
    ddp_auc, _ = validate(ddp.model, valid)
    single_auc, _ = validate(single.model, valid)
    assert ddp_auc > 0.6
    # Same seeded model, same permutation, each worker half of every batch and
    # the gradients averaged: the very optimisation of one process, computed in
    # two places. Only float rounding differs (measured: 5e-8 in probability).
    gap = np.abs(
        logits_in_blocks(ddp.model, valid) - logits_in_blocks(single.model, valid)
    ).max()
    assert gap < 1e-4, (
        f"DDP logits differ from one process's by up to {gap:.2g} (AUC "
        f"{ddp_auc:.4f} against {single_auc:.4f}): every worker must take the same "
        "seeded permutation's [rank::world] shard, step on batch_size // world "
        "rows through the DDP-wrapped model, and rank 0 report the core's weights"
    )

"""``labkit bench training --json``: training speed, search speed and model quality, one run.

    labkit bench training --json                 # preset small
    labkit bench training --preset tiny --json

Figures (all from this run):

- ``train_samples_per_s``: single-process training throughput of the default
  model on the whole training split (median over epochs, 1 torch thread);
- ``ddp_2_workers_speedup``: Ray Train DDP with 2 CPU workers against the same
  loop in one process, same rows and epochs, warm epochs only;
- ``tune_trials_per_min``: Ray Tune trials (2 at a time, ASHA) per minute of
  wall time, Ray start-up excluded;
- ``auc``, ``bayes_optimal_auc``, ``gap_closed``: the default model on the
  test split, and the share of the 0.5 → Bayes-optimal gap it closes.
"""

from __future__ import annotations

import logging

from common.results import Results
from labs.training.dataset import LABEL, TRUTH
from labs.training.metrics import evaluate
from labs.training.study import DDP_ROWS, TUNE_ROWS, prepare, run_ddp, run_tune

log = logging.getLogger(__name__)


def bench(results: Results, *, preset: str = "small") -> None:
    """Measure the headline figures on ShopStream ``preset``."""
    from infra.ray_session import init_ray, shutdown_ray

    study = prepare(preset)
    test = study.splits.test
    figures = evaluate(test[LABEL], study.result.predictor.predict(test), test[TRUTH])
    results.add("preset", preset)
    results.add("train_rows", len(study.splits.train))
    results.add("train_samples_per_s", study.result.samples_per_s)
    results.add("auc", figures["auc"])
    results.add("bayes_optimal_auc", figures["bayes_auc"])
    results.add("gap_closed", figures["gap_closed"])
    results.add("epochs", len(study.result.history))
    try:
        init_ray()
        single, ddp, single_auc, ddp_auc = run_ddp(study)
        results.add("ddp_rows", single.rows)
        results.add("single_process_samples_per_s", single.samples_per_s)
        results.add("ddp_samples_per_s", ddp.samples_per_s)
        results.add("ddp_2_workers_speedup", ddp.samples_per_s / single.samples_per_s)
        results.add("ddp_auc_minus_single", ddp_auc - single_auc)
        results.add("ddp_startup_s", ddp.wall_s - sum(ddp.epoch_seconds))
        tune = run_tune(study)
        results.add("tune_trials", len(tune.trials))
        results.add("tune_trials_per_min", tune.trials_per_min)
        results.add("tune_stopped_by_asha", tune.stopped_by_asha)
        results.add(
            "tune_best_minus_default_auc", tune.best_valid_auc - tune.default_valid_auc
        )
    finally:
        shutdown_ray()
    results.text(
        f"ShopStream `{preset}`. Tune trains on the most recent {TUNE_ROWS:,} and DDP on "
        f"the most recent {DDP_ROWS:,} training rows (subsamples; see study.py)."
    )
    results.table(
        [{"figure": k, "value": v} for k, v in results.figures.items()],
        title="Training benchmark",
    )

"""m6 — hyperparameter search with Ray Tune: random search, 2 trials at a time, ASHA.

    from labs.training import tune_model
    report = tune_model(train_rows, valid_rows, sizes, num_samples=8)
    report.best_config, report.rows()          # every trial, and which ASHA stopped

Each trial trains the click model (``fit_encoded``) with one sampled config
and reports the validation AUC after every epoch. ASHA (asynchronous
successive halving) compares trials at rungs of 1, 2, 4, ... epochs and stops
a trial whose AUC at a rung is below the top ``1 / reduction_factor`` of the
trials that reached it, so the budget goes to promising configs. The first
trial is always the default config (``points_to_evaluate``): the best of
the search can then never be worse than what we had.

Ray runs locally (``infra.ray_session.init_ray``) unless ``RAY_ADDRESS``
names a cluster; the encoded rows travel once through the object store
(``tune.with_parameters``). On a cluster ``storage_path`` must be shared
storage (NFS, S3), not a local folder.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labs.training.features import Encoded
from labs.training.train import EpochLog, TrainConfig, fit_encoded

log = logging.getLogger(__name__)

METRIC, MODE = "valid_auc", "max"
TUNED = ("lr", "embed_dim", "hidden", "embed_l2", "interaction")  # the searched knobs


def widths(hidden: str) -> list[int]:
    """``"64x32"`` → ``[64, 32]`` (Tune samples the hidden widths as one string)."""
    return [int(h) for h in str(hidden).split("x")]


def search_space() -> dict[str, Any]:
    """What the search samples (each trial also inherits the base config)."""
    from ray import tune

    return {
        "lr": tune.loguniform(3e-4, 3e-2),
        "embed_dim": tune.choice([4, 8, 16]),
        "hidden": tune.choice(["32", "64x32", "128x64"]),  # widths, "x"-joined
        "embed_l2": tune.loguniform(0.01, 1.0),
        "interaction": tune.choice(["additive", "concat"]),
    }


def run_trial(
    params: dict[str, Any],
    train: Encoded,
    valid: Encoded,
    sizes: tuple[int, int],
    base: dict[str, Any],
) -> None:
    """One Tune trial: train with ``base`` overridden by ``params``; report every epoch."""
    from ray import tune

    config = TrainConfig.from_dict(
        {**base, **params, "hidden": widths(params["hidden"])}
    )

    # BEGIN SOLUTION m6: report valid_auc (and the epoch) to Tune after every epoch, so ASHA can stop the trial at a rung
    def report(entry: EpochLog) -> None:
        tune.report(
            {
                METRIC: entry.valid_auc,
                "valid_log_loss": entry.valid_log_loss,
                "epoch": entry.epoch,
                "samples_per_s": entry.samples_per_s,
            }
        )

    fit_encoded(train, valid, sizes[0], sizes[1], config, on_epoch=report)
    # END SOLUTION


@dataclass
class TuneReport:
    """The search's outcome."""

    trials: list[dict[str, Any]]  # one row per trial, in start order
    # each trial's validation AUC after every epoch it reported, as ``trials``
    curves: list[list[float]]
    best_config: dict[str, Any]
    best_valid_auc: float
    default_valid_auc: float
    max_epochs: int
    wall_s: float

    @property
    def stopped_by_asha(self) -> int:
        return sum(t["stopped by ASHA"] for t in self.trials)

    @property
    def trials_per_min(self) -> float:
        return 60.0 * len(self.trials) / self.wall_s

    def rows(self) -> list[dict[str, Any]]:
        return self.trials


def tune_model(
    train: Encoded,
    valid: Encoded,
    sizes: tuple[int, int],
    base: TrainConfig | None = None,
    *,
    num_samples: int = 8,
    max_concurrent: int = 2,
    max_epochs: int = 4,
    cpus_per_trial: float = 1.0,
    storage_path: str | Path | None = None,
    seed: int = 0,
) -> TuneReport:
    """Random search with ASHA over :func:`search_space`; the default config goes first.

    Args:
        train, valid: encoded rows (``Preprocessor.encode(..., with_label=True)``).
        sizes: ``(users, items)`` embedding rows (``prep.users.size``, ``prep.items.size``).
        base: the config every trial starts from (and the default trial uses).
        num_samples: trials in all, the default one included.
        max_concurrent: trials running at once.
        max_epochs: ASHA's ``max_t``: epochs of a trial nobody stops.
        cpus_per_trial: Ray CPUs each trial reserves.
        storage_path: where Tune writes its results (an absolute path;
            shared storage on a cluster); ``data/ray_results`` by default.
        seed: the random search's seed.
    """
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    from common.paths import data_dir
    from infra.ray_session import init_ray

    if num_samples < 1 or max_concurrent < 1 or max_epochs < 1:
        raise ValueError(
            f"num_samples, max_concurrent and max_epochs must be ≥ 1, got "
            f"{num_samples}, {max_concurrent}, {max_epochs}."
        )
    base = (base or TrainConfig()).replace(max_epochs=max_epochs, patience=max_epochs)
    base_dict = base.to_dict()
    default_point = {name: base_dict[name] for name in TUNED}
    default_point["hidden"] = "x".join(str(h) for h in base.hidden)
    storage = Path(storage_path or data_dir() / "ray_results").resolve()
    storage.mkdir(parents=True, exist_ok=True)
    init_ray()
    began = time.perf_counter()
    # BEGIN SOLUTION m6: a Tuner over run_trial (with_parameters for the data, with_resources for the CPUs): ASHAScheduler(max_t=max_epochs, grace_period=1, reduction_factor=2) on time_attr "training_iteration", BasicVariantGenerator with the default point first, num_samples and max_concurrent_trials; grid = tuner.fit()
    trainable = tune.with_resources(
        tune.with_parameters(
            run_trial, train=train, valid=valid, sizes=sizes, base=base_dict
        ),
        {"cpu": cpus_per_trial},
    )
    tuner = tune.Tuner(
        trainable,
        param_space=search_space(),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=MODE,
            num_samples=num_samples,
            max_concurrent_trials=max_concurrent,
            reuse_actors=True,  # a new actor per trial costs seconds of imports
            scheduler=ASHAScheduler(
                time_attr="training_iteration",
                max_t=max_epochs,
                grace_period=1,
                reduction_factor=2,
            ),
            search_alg=BasicVariantGenerator(
                points_to_evaluate=[default_point], random_state=seed
            ),
        ),
        run_config=tune.RunConfig(
            name=f"tune-{int(time.time() * 1000)}", storage_path=str(storage), verbose=0
        ),
    )
    grid = tuner.fit()
    # END SOLUTION
    wall = time.perf_counter() - began
    if grid.errors:
        raise RuntimeError(
            f"{len(grid.errors)} Tune trials failed; first: {grid.errors[0]}"
        )
    trials, curves = [], []
    for result in grid:
        history = result.metrics_dataframe
        aucs = history[METRIC].tolist() if history is not None else []
        params = {name: result.config[name] for name in TUNED}
        curves.append([float(a) for a in aucs])
        trials.append(
            {
                **params,
                "epochs": len(aucs),
                "last valid AUC": aucs[-1] if aucs else float("nan"),
                "best valid AUC": max(aucs) if aucs else float("nan"),
                "stopped by ASHA": len(aucs) < max_epochs,
                "default": params == default_point,
            }
        )
    if not any(t["default"] for t in trials):
        raise RuntimeError("the default config was not among the trials.")
    best = max(trials, key=lambda t: t["best valid AUC"])
    default = next(t for t in trials if t["default"])
    best_config = {**base_dict, **{k: best[k] for k in TUNED if k != "hidden"}}
    best_config["hidden"] = widths(best["hidden"])
    log.info(
        "tune: %d trials in %.1f s, best %.4f",
        len(trials),
        wall,
        best["best valid AUC"],
    )
    return TuneReport(
        trials=trials,
        curves=curves,
        best_config=best_config,
        best_valid_auc=float(best["best valid AUC"]),
        default_valid_auc=float(default["best valid AUC"]),
        max_epochs=max_epochs,
        wall_s=wall,
    )

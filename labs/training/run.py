"""``labkit run training``: the training lab's results page.

    labkit run training                  # preset small: 1.36M labelled impressions, ~2.5 min
    labkit run training --preset tiny    # 51k impressions, under a minute

Sections, in pipeline order, each feeding one of the interviewer's questions
in the brief: the point-in-time training set and its time split (and what a
random split would have reported), the metrics of a constant, the
scikit-learn baseline, the MLP and the Bayes-optimal ranking, a calibration
plot, the leakage experiment, the registry, the Ray Tune search and Ray Train
DDP against one process. Tune and DDP run on a subsample of the training
split (the most recent ``TUNE_ROWS`` / ``DDP_ROWS`` rows, ``study.py``) so the page stays
within the demo's budget; the page says so.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from common.results import Results
from labs.training.baseline import fit_baseline, predict_baseline
from labs.training.dataset import LABEL, TRUTH, Splits, TrainingSet
from labs.training.leakage import leakage_experiment
from labs.training.metrics import calibration_bins, evaluate
from labs.training.production import (
    ALIAS,
    FRACTIONS,
    default_registry_root,
    describe,
    locked,
    model_fingerprint,
)
from labs.training.registry import ModelRegistry
from labs.training.study import (
    DDP_EPOCHS,
    SPEED_BATCHES,
    TUNE_ROWS,
    Study,
    prepare,
    run_ddp,
    run_tune,
)

log = logging.getLogger(__name__)


def run(results: Results, *, preset: str = "small") -> None:
    """Measure the whole lab on ShopStream ``preset`` and write the page."""
    from infra.ray_session import shutdown_ray

    started = time.perf_counter()
    study = prepare(preset)
    data, splits = study.data, study.splits
    results.add("preset", preset)
    results.text(
        f"ShopStream `{preset}`: {len(data.frame):,} clean impressions, each joined to "
        f"{len(data.features)} point-in-time features in {study.join_s:.1f} s "
        f"(labels, store and join). The MLP trained in {study.fit_s:.1f} s."
    )
    seconds = {"load, join and train the MLP": round(time.perf_counter() - started, 1)}

    def timed(name: str, step: Any, *args: Any) -> Any:
        began = time.perf_counter()
        out = step(*args)
        seconds[name] = round(time.perf_counter() - began, 1)
        return out

    random_auc = timed("split and random split", _split_section, results, data, splits)
    timed("metrics", _metrics_section, results, study, random_auc)
    timed("leakage", _leakage_section, results, study, preset)
    timed("registry", _registry_section, results, study, preset)
    try:
        timed("tune", _tune_section, results, study)
        timed("ddp", _ddp_section, results, study)
    finally:
        shutdown_ray()
    results.add("section_s", seconds)
    log.info("training run sections (s): %s", seconds)
    results.add("run_s", round(time.perf_counter() - started, 1))


def _split_section(results: Results, data: TrainingSet, splits: Splits) -> float:
    """The split table; returns a random split's baseline test AUC for comparison."""
    rows = splits.table()
    results.add("splits", rows)
    # What a random split would have said, with the same cheap baseline.
    shuffled = data.frame.sample(frac=1.0, random_state=0)
    n_train = len(splits.train)
    random_train = shuffled.iloc[:n_train]
    random_test = shuffled.iloc[n_train + len(splits.valid) :]
    baseline = fit_baseline(random_train, data.features, data.defaults)
    random_auc = evaluate(random_test[LABEL], predict_baseline(baseline, random_test))[
        "auc"
    ]
    results.add("baseline_auc_random_split", random_auc)
    results.text(
        "## The training set and its time split (m1)\n\n"
        f"Train < valid < test by event time (fractions {FRACTIONS}, no gap): every "
        "validation and test row happened after every training row, as in "
        "production, where the model always scores the future."
    )
    results.table(rows, title="Rows per split")
    return random_auc


def _metrics_section(results: Results, study: Study, random_auc: float) -> None:
    data, splits, result = study.data, study.splits, study.result
    test = splits.test
    y, truth = test[LABEL], test[TRUTH]
    baseline = fit_baseline(splits.train, data.features, data.defaults)
    p_base = predict_baseline(baseline, test)
    p_mlp = result.predictor.predict(test)
    p_const = np.full(len(test), splits.train[LABEL].mean())
    figures = {
        "constant (train CTR)": evaluate(y, p_const, truth),
        "logistic regression (sklearn)": evaluate(y, p_base, truth),
        "MLP + embeddings (torch)": evaluate(y, p_mlp, truth),
        "Bayes-optimal (p_click)": evaluate(y, truth, truth),
    }
    table = [
        {
            "model": name,
            "test AUC": f["auc"],
            "log loss": f["log_loss"],
            "ECE (10 quantile bins)": f["ece"],
            "mean prediction": f["mean_prediction"],
            "gap closed": f["gap_closed"],
        }
        for name, f in figures.items()
    ]
    mlp, base, bayes = (
        figures["MLP + embeddings (torch)"],
        figures["logistic regression (sklearn)"],
        figures["Bayes-optimal (p_click)"],
    )
    results.add("metrics", table)
    results.add("auc", mlp["auc"])
    results.add("baseline_auc", base["auc"])
    results.add("bayes_optimal_auc", bayes["auc"])
    results.add("gap_closed", mlp["gap_closed"])
    results.add("best_epoch", result.best_epoch)
    why = (
        "lower here: a random test set also holds the first days, when the 24 h "
        "and 7-day windows are still filling up, while the time split tests on "
        "the last day with mature features"
        if random_auc < base["auc"]
        else "higher here: the test rows share hours, sessions and item trends "
        "with training rows, a closeness production never offers"
    )
    results.text(
        f"A random split with the same logistic regression reports test AUC "
        f"{random_auc:.4f}, against {base['auc']:.4f} on the time split "
        f"({random_auc - base['auc']:+.4f}), {why}. Either way it measures "
        "interpolation inside the period, not the forecast the model is deployed for."
    )
    results.text(
        "## Metrics (m2, m3)\n\n"
        f"Test split, {mlp['rows']:,} impressions, CTR {mlp['ctr']:.2%}. The MLP reaches "
        f"AUC {mlp['auc']:.4f} against the baseline's {base['auc']:.4f} "
        f"({mlp['auc'] - base['auc']:+.4f}) and closes {mlp['gap_closed']:.0%} of the "
        f"gap between a constant (0.5) and the Bayes-optimal ranking ({bayes['auc']:.4f}). "
        f"Early stopping kept epoch {result.best_epoch} of {len(result.history)}. "
        "The constant has the best calibration a model can have on average and no "
        "ranking at all: AUC and calibration are separate questions."
    )
    results.table(table, title="Test metrics")
    results.table(
        [
            {
                "epoch": h.epoch,
                "train loss": h.train_loss,
                "valid AUC": h.valid_auc,
                "valid log loss": h.valid_log_loss,
                "rows/s": h.samples_per_s,
            }
            for h in result.history
        ],
        title="MLP training, epoch by epoch (early stopping on valid AUC)",
    )
    with results.plot(
        "calibration",
        "Reliability: mean prediction against observed CTR, 10 quantile bins of the test split",
    ) as ax:
        top = 0.0
        for name, probs in (
            ("logistic regression", p_base),
            ("MLP", p_mlp),
            ("Bayes (p_click)", truth.to_numpy()),
        ):
            bins = calibration_bins(y, probs, 10, "quantile")
            used = bins.count > 0
            ax.plot(
                bins.mean_predicted[used], bins.observed_rate[used], "o-", label=name
            )
            top = max(
                top,
                float(np.nanmax(bins.mean_predicted)),
                float(np.nanmax(bins.observed_rate)),
            )
        ax.plot([0, top], [0, top], "k--", lw=1, label="perfect calibration")
        ax.set_xlabel("mean predicted click probability")
        ax.set_ylabel("observed CTR")
        ax.legend()


def _leakage_section(results: Results, study: Study, preset: str) -> None:
    from labs.feature_store import build_store

    with build_store(preset) as store:
        report = leakage_experiment(
            store, study.data, study.splits, study.result.config, pit=study.result
        )
    rows = report.rows()
    results.add("leakage", rows)
    results.add("leakage_inflation", report.inflation)
    results.add("leakage_holdout_loss", report.holdout_loss)
    results.text(
        "## Leakage: the same model on a naive join (m4)\n\n"
        "The naive pipeline joins every impression to its user's and item's *latest* "
        "feature values (as of the end of the data), which already count the "
        f"impression's own click. Its validation AUC is {report.naive_valid_auc:.4f}, "
        f"{report.inflation:+.4f} above the honest model's {report.pit_valid_auc:.4f}; "
        f"on a holdout built point-in-time (what serving will send) it scores "
        f"{report.naive_holdout_auc:.4f}, {-report.holdout_loss:+.4f} against the honest "
        f"model's {report.pit_holdout_auc:.4f}. The offline gain was never real."
    )
    results.table(rows, title="Leakage: AUC by how the features were joined")


def _registry_section(results: Results, study: Study, preset: str) -> None:
    registry = ModelRegistry(default_registry_root(preset))
    config = study.result.config
    fingerprint = model_fingerprint(preset, 0, config)
    with locked(registry.root):  # ensure_production_model may run in another process
        same = [
            v
            for v in registry.versions()
            if registry.metadata(v).get("fingerprint") == fingerprint
        ]
        if same:
            version, note = same[-1], "already registered by an earlier run"
        else:
            version = registry.register(
                study.result.predictor,
                describe(study.result, study.data, study.splits, fingerprint),
            )
            note = "registered now"
        registry.promote(version, ALIAS)
        loaded = registry.load(ALIAS)
    test = study.splits.test
    diff = float(
        np.max(np.abs(loaded.predict(test) - study.result.predictor.predict(test)))
    )
    results.add("registry_version", version)
    results.add("registry_reload_max_abs_diff", diff)
    listing = registry.listing()
    if same:
        meaning = (
            f"Version `{version}` was trained and registered by an earlier run: "
            "training is deterministic, so the same data, code and config gave "
            "the same weights again"
        )
    else:
        meaning = "Run the page again to compare a model trained twice"
    results.text(
        "## Model registry (m5)\n\n"
        f"The MLP is version `{version}` ({note}) in `{registry.root}`; `{ALIAS}` points "
        f"at it. Reloaded weights-only with its sha256 checked, it scores the "
        f"{len(test):,} test rows with a largest difference of {diff:g} from the model "
        f"trained in this run. {meaning}."
    )
    results.table(listing, title="Registry")


def _tune_section(results: Results, study: Study) -> None:
    report = run_tune(study)
    results.add("tune_trials", report.rows())
    results.add("tune_trials_per_min", report.trials_per_min)
    results.add("tune_best_config", report.best_config)
    rows = sorted(report.rows(), key=lambda t: -t["best valid AUC"])
    gain = report.best_valid_auc - report.default_valid_auc
    concat = [t["best valid AUC"] for t in rows if t["interaction"] == "concat"]
    results.text(
        "## Ray Tune: random search with ASHA (m6)\n\n"
        f"{len(rows)} trials, 2 at a time, each on the most recent "
        f"{min(TUNE_ROWS, len(study.splits.train)):,} training rows (a subsample, to "
        f"fit the demo's budget) for up to {report.max_epochs} epochs; "
        f"{report.stopped_by_asha} were stopped early by ASHA. "
        f"{len(rows) / (report.wall_s / 60):.1f} trials per minute ({report.wall_s:.0f} s). "
        f"Best valid AUC {report.best_valid_auc:.4f} against the default config's "
        f"{report.default_valid_auc:.4f} ({gain:+.4f})."
        + (
            f" Embeddings concatenated into the MLP (`concat`) reached at best "
            f"{max(concat):.4f}."
            if concat
            else ""
        )
    )
    results.table(rows, title="Tune trials, best first")


def _ddp_section(results: Results, study: Study) -> None:
    single, ddp, single_auc, ddp_auc = run_ddp(study)
    speedup = ddp.samples_per_s / single.samples_per_s
    results.add("train_samples_per_s", study.result.samples_per_s)
    results.add("ddp_2_workers_speedup", speedup)
    results.add(
        "ddp", {"single_auc": single_auc, "ddp_auc": ddp_auc, "speedup": speedup}
    )
    rows: list[dict[str, Any]] = [
        {
            "run": name,
            "workers": run.workers,
            "rows/s (warm epochs)": run.samples_per_s,
            "s per epoch": float(np.median(run.epoch_seconds[1:] or run.epoch_seconds)),
            "wall s incl. start-up": run.wall_s,
            "valid AUC": auc,
        }
        for name, run, auc in (
            ("one process, 1 thread", single, single_auc),
            ("Ray Train DDP (gloo)", ddp, ddp_auc),
        )
    ]
    results.text(
        "## Ray Train: data-parallel training (m6)\n\n"
        f"The same {DDP_EPOCHS} epochs over the most recent {single.rows:,} training "
        f"rows, in one process and as a `TorchTrainer` with 2 CPU workers (DDP over "
        f"gloo). Speed-up {speedup:.2f}x on warm epochs; valid AUC {ddp_auc:.4f} "
        f"against {single_auc:.4f} ({ddp_auc - single_auc:+.4f}). Starting the "
        f"workers cost {ddp.wall_s - sum(ddp.epoch_seconds):.0f} s, "
        f"{(ddp.wall_s - sum(ddp.epoch_seconds)) / max(sum(single.epoch_seconds), 1e-9):.1f}x "
        "the single process's whole training time. Each step all-reduces every "
        "gradient, the embedding tables' included."
    )
    results.table(rows, title="One process against DDP")
    sweep = [
        {
            "global batch": study.result.config.batch_size,
            "one process rows/s": single.samples_per_s,
            "DDP rows/s": ddp.samples_per_s,
            "speed-up": speedup,
        }
    ] + [
        {
            "global batch": batch,
            "one process rows/s": single.speed_by_batch[batch],
            "DDP rows/s": ddp.speed_by_batch[batch],
            "speed-up": ddp.speed_by_batch[batch] / single.speed_by_batch[batch],
        }
        for batch in SPEED_BATCHES
    ]
    results.add("ddp_speed_by_batch", sweep)
    by_batch = ", ".join(
        f"{r['speed-up']:.2f}x at {r['global batch']:,}" for r in sweep
    )
    results.text(
        "A larger global batch means fewer steps per epoch, so fewer all-reduces per "
        f"row. Speed-up by global batch: {by_batch} (the larger batches: one epoch "
        "each on fresh models; a larger batch also changes the optimisation, so "
        "its accuracy and learning rate must be re-checked)."
    )
    results.table(sweep, title="Speed-up by global batch size")

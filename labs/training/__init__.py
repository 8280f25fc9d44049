"""Lab 2 — training: point-in-time training sets, a scikit-learn baseline, a PyTorch
click model, the leakage experiment, a model registry, Ray Tune and Ray Train.

    from labs.training import ensure_production_model
    model = ensure_production_model("tiny")      # trained once, then loaded from the registry
    p = model.predict(frame)                     # user_id, item_id and model.metadata["features"]

    from labs.training import ModelRegistry
    registry = ModelRegistry(model.registry_root)
    registry.promote("v0002", "production")      # a serving process re-resolves the alias

The brief is ``README.md`` next to this file.

The names below are imported on first use, not here: a serving process, a
scoring actor or a Ray worker that needs only the registry should not pay
for scikit-learn, Ray Tune and Ray Train at start-up.
"""

from __future__ import annotations

from common.lazy import lazy_exports

_EXPORTS = {
    "baseline": (
        "fit_baseline",
        "make_baseline",
        "predict_baseline",
    ),
    "dataset": (
        "Splits",
        "TrainingSet",
        "build_training_set",
        "label_frame",
        "load_training_set",
        "time_split",
    ),
    "distributed": (
        "ParallelRun",
        "train_data_parallel",
        "train_single_process",
    ),
    "features": (
        "Encoded",
        "Preprocessor",
        "Vocabulary",
    ),
    "leakage": (
        "LeakageReport",
        "leakage_experiment",
        "naive_join",
    ),
    "metrics": (
        "calibration_bins",
        "evaluate",
        "expected_calibration_error",
        "gap_closed",
        "log_loss",
        "roc_auc",
    ),
    "model": ("ClickModel",),
    "predictor": (
        "BLOCK_ROWS",
        "ClickPredictor",
    ),
    "production": (
        "default_registry_root",
        "ensure_production_model",
        "model_fingerprint",
    ),
    "registry": (
        "IntegrityError",
        "LoadedModel",
        "ModelRegistry",
        "RegistryError",
    ),
    "train": (
        "EpochLog",
        "TrainConfig",
        "TrainResult",
        "fit",
    ),
    "tune": (
        "TuneReport",
        "tune_model",
    ),
}
__getattr__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)

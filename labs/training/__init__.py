"""Lab 2 — training: point-in-time training sets, a scikit-learn baseline, a PyTorch
click model, the leakage experiment, a model registry, Ray Tune and Ray Train.

    from labs.training import ensure_production_model
    model = ensure_production_model("tiny")      # trained once, then loaded from the registry
    p = model.predict(frame)                     # user_id, item_id and model.metadata["features"]

    from labs.training import ModelRegistry
    registry = ModelRegistry(model.registry_root)
    registry.promote("v0002", "production")      # a serving process re-resolves the alias

The brief is ``README.md`` next to this file.
"""

from labs.training.baseline import fit_baseline, make_baseline, predict_baseline
from labs.training.dataset import (
    Splits,
    TrainingSet,
    build_training_set,
    label_frame,
    load_training_set,
    time_split,
)
from labs.training.distributed import (
    ParallelRun,
    train_data_parallel,
    train_single_process,
)
from labs.training.features import Encoded, Preprocessor, Vocabulary
from labs.training.leakage import LeakageReport, leakage_experiment, naive_join
from labs.training.metrics import (
    calibration_bins,
    evaluate,
    expected_calibration_error,
    gap_closed,
    log_loss,
    roc_auc,
)
from labs.training.model import ClickModel
from labs.training.predictor import BLOCK_ROWS, ClickPredictor
from labs.training.production import (
    default_registry_root,
    ensure_production_model,
    model_fingerprint,
)
from labs.training.registry import (
    IntegrityError,
    LoadedModel,
    ModelRegistry,
    RegistryError,
)
from labs.training.train import EpochLog, TrainConfig, TrainResult, fit
from labs.training.tune import TuneReport, tune_model

__all__ = [
    "BLOCK_ROWS",
    "ClickModel",
    "ClickPredictor",
    "Encoded",
    "EpochLog",
    "IntegrityError",
    "LeakageReport",
    "LoadedModel",
    "ModelRegistry",
    "ParallelRun",
    "Preprocessor",
    "RegistryError",
    "Splits",
    "TrainConfig",
    "TrainResult",
    "TrainingSet",
    "TuneReport",
    "Vocabulary",
    "build_training_set",
    "calibration_bins",
    "default_registry_root",
    "ensure_production_model",
    "evaluate",
    "expected_calibration_error",
    "fit",
    "fit_baseline",
    "gap_closed",
    "label_frame",
    "leakage_experiment",
    "load_training_set",
    "log_loss",
    "make_baseline",
    "model_fingerprint",
    "naive_join",
    "predict_baseline",
    "roc_auc",
    "time_split",
    "train_data_parallel",
    "train_single_process",
    "tune_model",
]

"""The production model later labs score with: trained once per data and code, then cached.

    from labs.training import ensure_production_model
    model = ensure_production_model("tiny")     # LoadedModel, alias "production"
    model.predict(frame)                        # user_id, item_id, every feature
    ModelRegistry(model.registry_root)          # the registry, e.g. to hot-swap

Each preset and seed has its own registry (``data/registry/<preset>-seed<seed>/``)
so a test on ``tiny`` never replaces the demo's ``small`` model. A model is
identified by a fingerprint of everything that shapes it: the ShopStream
version and config, the feature views and the feature store's code, this
package's code and the training config. If ``production`` already points at
a model with that fingerprint it is loaded (well under a second); if an
older version has it, that version is promoted; otherwise the default
config is trained on the time split, evaluated, registered and promoted.
A file lock serialises concurrent callers (a test process and the server
it started).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.paths import data_dir
from common.shopstream import ensure
from labs.training.dataset import (
    LABEL,
    TRUTH,
    TrainingSet,
    load_training_set,
    time_split,
)
from labs.training.metrics import evaluate
from labs.training.registry import LoadedModel, ModelRegistry, RegistryError
from labs.training.train import TrainConfig, TrainResult, fit

log = logging.getLogger(__name__)

FRACTIONS = (0.7, 0.15, 0.15)  # train / valid / test, by event time
ALIAS = "production"
# Files that measure or orchestrate but never change a trained model.
_NOT_MODEL_CODE = {
    "run.py",
    "bench.py",
    "study.py",
    "tune.py",
    "distributed.py",
    "leakage.py",
}


def default_registry_root(preset: str, seed: int = 0) -> Path:
    """``data/registry/<preset>-seed<seed>``: one registry per dataset."""
    return data_dir() / "registry" / f"{preset}-seed{seed}"


def code_fingerprint() -> str:
    """A hash of this package's model-shaping code (a changed copy trains anew)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.name not in _NOT_MODEL_CODE:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def model_fingerprint(preset: str, seed: int, config: TrainConfig) -> str:
    """What identifies a production model, computed without reading any table."""
    from labs.feature_store.build import code_fingerprint as store_code
    from labs.feature_store.views import default_views
    from labs.feature_store.views import fingerprint as views_fingerprint

    meta = json.loads((ensure(preset, seed) / "meta.json").read_text())
    blob = json.dumps(
        {
            "dataset": {"version": meta["version"], "config": meta["config"]},
            "views": views_fingerprint(default_views()),
            "feature_store_code": store_code(),
            "training_code": code_fingerprint(),
            "config": config.to_dict(),
            "fractions": list(FRACTIONS),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """An exclusive lock on ``root/.lock`` for the duration of the block."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def describe(
    result: TrainResult, data: TrainingSet, splits: Any, fingerprint: str
) -> dict[str, Any]:
    """The metadata registered with a model trained on ``splits``."""
    predict = result.predictor.predict
    return {
        "preset": data.preset,
        "data_seed": data.seed,
        "seed": result.config.seed,
        "config": result.config.to_dict(),
        "fingerprint": fingerprint,
        "data_fingerprint": data.fingerprint,
        "splits": {
            "fractions": list(FRACTIONS),
            "cuts": [str(t) for t in splits.cuts],
            "rows": splits.sizes(),
        },
        "best_epoch": result.best_epoch,
        "metrics": {
            name: evaluate(part[LABEL], predict(part), part[TRUTH])
            for name, part in (("valid", splits.valid), ("test", splits.test))
        },
    }


def train_and_register(
    registry: ModelRegistry,
    preset: str,
    seed: int,
    config: TrainConfig,
    fingerprint: str,
    data: TrainingSet | None = None,
) -> tuple[str, TrainResult]:
    """Train ``config`` on the time split of ``preset``, register it; ``(version, result)``."""
    data = data or load_training_set(preset, seed)
    splits = time_split(data.frame, FRACTIONS)
    result = fit(splits.train, splits.valid, data.features, data.defaults, config)
    version = registry.register(
        result.predictor, describe(result, data, splits, fingerprint)
    )
    return version, result


def ensure_production_model(
    preset: str = "tiny",
    seed: int = 0,
    root: str | Path | None = None,
    config: TrainConfig | None = None,
) -> LoadedModel:
    """The ``production`` model for ``preset``: loaded if current, else trained and promoted.

    Args:
        preset: the ShopStream preset (``tiny`` trains in a few seconds).
        seed: the dataset seed.
        root: the registry folder; ``default_registry_root(preset, seed)`` by default.
        config: the training config; ``TrainConfig()`` by default.

    Returns:
        The :class:`LoadedModel` that ``production`` points at
        (``.registry_root`` is the registry's folder).
    """
    config = config or TrainConfig()
    registry = ModelRegistry(
        root if root is not None else default_registry_root(preset, seed)
    )
    fingerprint = model_fingerprint(preset, seed, config)
    with locked(registry.root):
        with contextlib.suppress(RegistryError):
            if registry.metadata(ALIAS).get("fingerprint") == fingerprint:
                return registry.load(ALIAS)
        for version in reversed(registry.versions()):
            with contextlib.suppress(RegistryError):
                if registry.metadata(version).get("fingerprint") == fingerprint:
                    log.info("promoting %s (same fingerprint) to %s", version, ALIAS)
                    registry.promote(version, ALIAS)
                    return registry.load(ALIAS)
        log.info("training a %s model for %s-seed%d", ALIAS, preset, seed)
        version, _ = train_and_register(registry, preset, seed, config, fingerprint)
        registry.promote(version, ALIAS)
        return registry.load(ALIAS)

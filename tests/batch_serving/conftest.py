"""Fixtures for the batch-serving lab: the tiny model, store and requests, one finished job.

Everything expensive is session-scoped. The tiny production model and
feature store come from the training and feature-store labs (cached on
disk). The requests are written to a private folder (12 partitions, ~51k
rows). ``finished_job`` runs the job once on the session's Ray (2 actors);
the pipeline, exactly-once and publish tests all read its output, so the
suite starts Ray actors as few times as possible.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from labs.feature_store import build_store
from labs.training import LoadedModel, ensure_production_model


@dataclass
class FinishedJob:
    spec: object  # JobSpec
    report: object  # JobReport
    output: Path


@pytest.fixture(scope="session")
def model() -> LoadedModel:
    return ensure_production_model("tiny", seed=0)


@pytest.fixture(scope="session")
def store_root() -> Path:
    store = build_store("tiny", seed=0)
    store.close()
    return Path(store.root)


@pytest.fixture(scope="session")
def requests_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from labs.batch_serving.requests import shopstream_requests, write_requests

    root = tmp_path_factory.mktemp("requests") / "requests"
    write_requests(shopstream_requests("tiny", seed=0), root)
    return root


@pytest.fixture(scope="session")
def make_spec(
    requests_root: Path, model: LoadedModel, store_root: Path
) -> Callable[..., object]:
    """``make_spec(output, **overrides)``: a JobSpec over the tiny requests."""
    from labs.batch_serving import JobSpec

    def make(output: Path, **overrides: object) -> object:
        fields: dict[str, object] = {
            "input_dir": requests_root,
            "output_dir": output,
            "registry_root": model.registry_root,
            "model": model.version,
            "store_root": store_root,
        }
        fields.update(overrides)
        return JobSpec(**fields)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def finished_job(
    ray_session: None,
    make_spec: Callable[..., object],
    tmp_path_factory: pytest.TempPathFactory,
) -> FinishedJob:
    """The tiny job run once to the end on 2 actors, batches of 1,024 rows."""
    from labs.batch_serving import PipelineConfig, run_job

    output = tmp_path_factory.mktemp("finished") / "scores"
    spec = make_spec(output)
    report = run_job(spec, PipelineConfig(num_actors=2, batch_size=1024))  # type: ignore[arg-type]
    return FinishedJob(spec, report, output)


@pytest.fixture(scope="session")
def offline_scores(model: LoadedModel) -> pd.Series:
    """The oracle: the training lab's point-in-time training set, scored in one call.

    A different path to the same numbers: the features come from
    ``load_training_set`` (one join over every label), not from the job's
    per-batch joins on actors, and the model scores the whole frame at once.
    """
    from labs.training import load_training_set

    data = load_training_set("tiny", seed=0)
    scores = model.predict(data.frame)
    return pd.Series(scores, index=data.frame["impression_id"].to_numpy()).sort_index()


@pytest.fixture
def copy_output(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """``copy_output(folder)``: a private copy of a job's output folder."""

    copies: list[Path] = []

    def copy(folder: Path) -> Path:
        target = tmp_path / f"copy-{len(copies)}-{folder.name}"
        shutil.copytree(folder, target)
        copies.append(target)
        return target

    yield copy

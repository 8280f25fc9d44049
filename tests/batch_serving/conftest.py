"""Fixtures for the batch-serving lab: the tiny model, store and requests, one scored job.

Everything expensive is session-scoped. The tiny production model and
feature store come from the training and feature-store labs (cached on
disk). The requests are written to a private folder (12 partitions, ~51k
rows). ``scored_job`` runs the pipeline (m2) once on the session's Ray (2
actors). ``finished_job`` is the same job scored in this process by the
actors' own ``Scorer`` (no Ray: seconds, not Ray's start-up) and committed
(m3) into an output folder; the exactly-once and publish tests read it, so
only the tests of the pipeline itself start Ray, and each milestone's
fixtures need only the milestones before it.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from labs.feature_store import build_store
from labs.training import LoadedModel, ensure_production_model

STARVED_S = 15.0  # no partition and no CPU free for the reads this long: stuck
PIPELINE_TIMEOUT_S = 150.0  # the whole tiny job, on a busy 2-core machine


@dataclass
class ScoredJob:
    """The tiny job's partitions as the pipeline handed them on, not yet written."""

    plan: Any  # JobPlan
    config: Any  # PipelineConfig
    partitions: list[Any]  # ScoredPartition, in the order they were handed on
    stats: Any  # PipelineStats

    @property
    def rows_by_worker(self) -> dict[int, int]:
        return _summed(p.rows_by_worker for p in self.partitions)

    @property
    def rows_by_node(self) -> dict[str, int]:
        return _summed(p.rows_by_node for p in self.partitions)


@dataclass
class FinishedJob:
    """The tiny job's partitions committed into ``output``, as a finished job."""

    spec: Any  # JobSpec
    plan: Any  # JobPlan
    output: Path


def _summed(counts: Iterator[dict[Any, int]]) -> dict[Any, int]:
    total: dict[Any, int] = {}
    for count in counts:
        for key, n in count.items():
            total[key] = total.get(key, 0) + n
    return total


def drain_pipeline(partitions: Iterator[Any], expected: int, read_cpus: float) -> list:
    """Every partition ``score_partitions`` yields, or a failure saying why it stalled.

    The pipeline runs in a thread, so a pipeline that hangs fails here in
    seconds instead of at the test's timeout: when no partition has come
    for ``STARVED_S`` while the cluster has less CPU free than a read task
    needs, the actors hold every CPU and the reads can never run.
    """
    import ray

    done: list[Any] = []
    failure: list[BaseException] = []
    finished = threading.Event()

    def drain() -> None:
        try:
            for partition in partitions:
                done.append(partition)
        except BaseException as exc:  # handed to the test below
            failure.append(exc)
        finally:
            finished.set()

    threading.Thread(target=drain, name="pipeline", daemon=True).start()
    began = last = time.monotonic()
    count = 0
    starved_since: float | None = None
    while not finished.wait(0.25):
        now = time.monotonic()
        if len(done) != count:
            count, last = len(done), now
        if ray.available_resources().get("CPU", 0.0) + 1e-9 < read_cpus:
            starved_since = starved_since or now
        else:
            starved_since = None
        if starved_since and now - max(starved_since, last) > STARVED_S:
            pytest.fail(
                f"the pipeline handed on {count} of {expected} partitions, then "
                f"nothing for {STARVED_S:.0f} s while no CPU was free for a read "
                f"task ({read_cpus} CPU): the scoring actors hold every CPU. Give "
                "each actor config.cpus_per_actor (a fraction), not a whole CPU."
            )
        if now - began > PIPELINE_TIMEOUT_S:
            pytest.fail(
                f"the pipeline handed on {count} of {expected} partitions in "
                f"{PIPELINE_TIMEOUT_S:.0f} s and is still running."
            )
    if failure:
        raise failure[0]
    return done


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
def scored_job(
    ray_session: None,
    make_spec: Callable[..., Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> ScoredJob:
    """The tiny job's 12 partitions scored once by the pipeline: 2 actors, batch 1,024."""
    from labs.batch_serving import (
        PipelineConfig,
        PipelineStats,
        plan_job,
        score_partitions,
    )

    plan = plan_job(make_spec(tmp_path_factory.mktemp("scored") / "unused"))
    config = PipelineConfig(num_actors=2, batch_size=1024)
    stats = PipelineStats()
    stream = score_partitions(plan, plan.partitions, config, stats=stats)
    done = drain_pipeline(stream, len(plan.partitions), config.read_cpus)
    return ScoredJob(plan, config, done, stats)


def score_in_process(plan: Any, batch_size: int = 1024) -> list[Any]:
    """Every partition of ``plan`` scored here by the actors' own ``Scorer`` and checked."""
    from labs.batch_serving.measure import local_scorer, score_locally
    from labs.batch_serving.pipeline import finish_partition

    scorer = local_scorer(plan)
    return [
        finish_partition(
            partition, list(score_locally(plan, partition, scorer, batch_size))
        )
        for partition in plan.partitions
    ]


@pytest.fixture(scope="session")
def finished_job(
    make_spec: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> FinishedJob:
    """The tiny job scored in this process and committed (m3): a finished job, no Ray."""
    from labs.batch_serving import OutputCommitter, plan_job

    spec = make_spec(tmp_path_factory.mktemp("finished") / "scores")
    plan = plan_job(spec)
    with OutputCommitter(spec.output_dir, plan.identity) as committer:
        for done in score_in_process(plan):
            committer.commit(done.partition, done.table)
    return FinishedJob(spec, plan, spec.output_dir)


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


@pytest.fixture(scope="session")
def file_stamps() -> Callable[[Path], dict[str, tuple[int, int]]]:
    """``file_stamps(output)``: (inode, mtime_ns) of every committed partition file."""
    from labs.batch_serving import read_manifest

    def stamps(output: Path) -> dict[str, tuple[int, int]]:
        found = {}
        for name, record in read_manifest(output)["partitions"].items():
            stat = (output / record["file"]).stat()
            found[name] = (stat.st_ino, stat.st_mtime_ns)
        return found

    return stamps

"""The job's plan: what to score, checked completely before any work starts.

    spec = JobSpec(input_dir, output_dir, registry_root, model="production",
                   store_root=store.root)
    plan = plan_job(spec)          # every bad input raises here, nothing touched
    plan.version, plan.join_features, plan.partitions

``plan_job`` is the job's first step (``job.py`` runs the rest): the model
reference exists and is pinned to a version; every input file has the key
columns and, with the feature store, every feature the model reads is a
column of the input or served by the store; the output folder is empty or
holds this very job. Each problem is one error that says what to fix.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from labs.batch_serving.commit import check_output_folder
from labs.batch_serving.requests import (
    ID,
    KEYS,
    TIME,
    Partition,
    list_partitions,
    select_partitions,
)


@dataclass(frozen=True)
class JobSpec:
    """What to score, with what, and where to write it.

    Attributes:
        input_dir: the requests' root (Parquet partitions).
        output_dir: where the scores go (mirrors the input's partitions).
        registry_root: the model registry.
        model: a version (``"v0003"``) or an alias (``"production"``),
            resolved once and pinned for the life of the output folder.
        store_root: the feature store whose point-in-time features are
            joined; ``None`` when the input files carry every feature.
        partitions: a glob over partition names (``"event_date=2024-03-0[4-6]/*"``)
            to score a range only, e.g. a backfill; every partition by default.
    """

    input_dir: Path
    output_dir: Path
    registry_root: Path
    model: str = "production"
    store_root: Path | None = None
    partitions: str | None = None

    def __post_init__(self) -> None:
        for name in ("input_dir", "output_dir", "registry_root", "store_root"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).resolve())

    def command_line(self, *extra: str) -> list[str]:
        """``python -m labs.batch_serving.job`` with this spec's flags, then ``extra``.

        What a process runner (a test, the lab's crash demo, a cluster's
        entrypoint) executes to run this job in a process of its own.
        """
        return [
            sys.executable,
            "-m",
            "labs.batch_serving.job",
            f"--input={self.input_dir}",
            f"--output={self.output_dir}",
            f"--registry={self.registry_root}",
            f"--model={self.model}",
            *([f"--store={self.store_root}"] if self.store_root else []),
            *([f"--partitions={self.partitions}"] if self.partitions else []),
            *extra,
        ]


@dataclass(frozen=True)
class JobPlan:
    """A validated job: the pinned model, the columns to read, the partitions."""

    spec: JobSpec
    version: str
    features: tuple[str, ...]  # what the model reads, in order
    join_features: tuple[str, ...]  # the subset joined from the feature store
    read_columns: tuple[str, ...]  # input columns the pipeline reads
    partitions: tuple[Partition, ...]
    identity: dict[str, Any]

    @property
    def registry_root(self) -> Path:
        return self.spec.registry_root

    @property
    def store_root(self) -> Path | None:
        return self.spec.store_root

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)


def _store_state(store_root: Path) -> tuple[list[str], dict[str, Any]]:
    """The features a store serves and what identifies its computed rows."""
    from labs.feature_store import FeatureStore

    if not (store_root / "registry.json").exists():
        raise ValueError(
            f"{store_root} is not a feature store (no registry.json); pass the folder "
            "of a built store, e.g. build_store('small').root."
        )
    with FeatureStore(store_root, online="memory") as store:
        computed = store.registry.state.get("computed") or {}
        if not store.views_current():
            raise ValueError(
                f"the feature store at {store_root} has no current feature rows; "
                "run compute_views() (or build_store) first."
            )
        return store.feature_names(), {
            "offline_version": computed.get("offline_version"),
            "views": computed.get("fingerprint"),
            "computed_at_us": computed.get("computed_at_us"),
        }


def plan_job(spec: JobSpec) -> JobPlan:
    """Validate ``spec`` completely, touching nothing; the job starts only if this passes.

    Raises:
        ValueError: the input folder is missing or empty; the model reference
            names no version; the input lacks a key column or a feature the
            model reads (and no store serves it); the output folder holds a
            different job's results.
    """
    from labs.training import ModelRegistry, RegistryError

    partitions = select_partitions(list_partitions(spec.input_dir), spec.partitions)
    if any(p.name == "." for p in partitions):
        raise ValueError(
            f"{spec.input_dir} holds Parquet files directly; put them in partition "
            "folders (e.g. event_date=2024-03-04/) so the output can mirror them."
        )
    registry = ModelRegistry(spec.registry_root)
    try:
        version = registry.resolve(spec.model)
        metadata = registry.metadata(version)
    except RegistryError as exc:
        raise ValueError(f"model {spec.model!r} cannot be used: {exc}") from None
    features = tuple(metadata["features"])
    # Every partition's schema (footers only), so a bad file fails here, not midway.
    columns: set[str] | None = None
    for partition in partitions:
        for file in partition.files:
            names = set(pq.read_schema(file).names)
            columns = names if columns is None else columns & names
    assert columns is not None
    served: list[str] = []
    store_identity: dict[str, Any] | None = None
    if spec.store_root is not None:
        served, store_identity = _store_state(spec.store_root)
    from_input = [f for f in features if f in columns]
    join = tuple(f for f in features if f not in columns and f in served)
    missing = [f for f in features if f not in columns and f not in served]
    if missing:
        where = (
            f"not served by the feature store at {spec.store_root}"
            if spec.store_root is not None
            else "no feature store was given (store_root)"
        )
        raise ValueError(
            f"model {version} reads features {missing}, which are not columns of the "
            f"input in {spec.input_dir}, and {where}. Join them into the input, or "
            "point the job at a feature store that serves them."
        )
    keys = [ID, *KEYS, TIME]
    absent = [c for c in keys if c not in columns]
    if absent:
        raise ValueError(
            f"every input file needs columns {keys}; {absent} are missing from some "
            f"file in {spec.input_dir} (columns present in all: {sorted(columns)})."
        )
    identity = {
        "input_dir": str(spec.input_dir),
        "partitions": spec.partitions,
        "model_version": version,
        "model_fingerprint": metadata.get("fingerprint"),
        "registry_root": str(spec.registry_root),
        "features": list(features),
        "store_root": None if spec.store_root is None else str(spec.store_root),
        "store": store_identity,
    }
    check_output_folder(spec.output_dir, identity)
    return JobPlan(
        spec=spec,
        version=version,
        features=features,
        join_features=join,
        read_columns=tuple(dict.fromkeys([*keys, *from_input])),
        partitions=tuple(partitions),
        identity=identity,
    )

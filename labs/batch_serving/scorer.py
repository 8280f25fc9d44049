"""The callable class each Ray Data actor runs: join features, score, say where it ran.

    scorer = Scorer(ScorerConfig(...))      # once per actor: model + feature indexes
    out = scorer(batch)                     # request rows -> scored rows (Arrow both)

A batch arrives as request rows (``impression_id``, ``user_id``,
``item_id``, ``event_timestamp`` and the index of the ``partition`` the
read task found them in). The scorer joins each row's features as of its own
``event_timestamp`` (the feature store's point-in-time join, the same one
that built the training set, so a batch score equals what the model saw
offline), scores the rows with :class:`BatchPredictor`, and returns the
output columns plus four for bookkeeping: the row's partition (so the
driver can regroup rows into their partition), the Ray node and the
process that scored it (so a report can say where the work ran), the
CPU time it cost (so a report can tell work from waiting on a busy machine)
and when the actor started and finished the batch (so throughput is
measured where the scoring happens, not where the driver happens to
receive the blocks).

A fault for tests lives here too: an actor that dies on its N-th batch
(once per job, however often Ray restarts it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from labs.batch_serving.predictor import BatchPredictor
from labs.batch_serving.reader import PARTITION
from labs.batch_serving.requests import ID, KEYS, TIME

NODE, WORKER, CPU = "node_id", "worker_pid", "cpu_s"
STARTED, ENDED = "batch_started_s", "batch_ended_s"  # wall clock (epoch s) in the actor
OUTPUT_COLUMNS = (ID, *KEYS, TIME, "score", "model_version")


@dataclass(frozen=True)
class ActorFaults:
    """Faults injected into scoring actors (tests and the demo only).

    Attributes:
        die_on_batch: an actor ``os._exit``-s when it reaches this many
            batches (1-based), once per job: the first actor to get there
            creates ``marker`` and dies; later ones see the marker and go on.
        marker: the file that makes the death happen once.
    """

    die_on_batch: int | None = None
    marker: str | None = None


@dataclass(frozen=True)
class ScorerConfig:
    """What each actor needs to build its scorer (plain values: it is pickled).

    Attributes:
        registry_root: the model registry.
        model_version: the pinned version (never an alias: see ``plan_job``).
        store_root: the feature store to join from; ``None`` when the input
            already carries every feature column.
        join_features: the ``"view:feature"`` names to join from the store.
        threads: PyTorch threads per actor.
        faults: injected faults (none by default).
    """

    registry_root: str
    model_version: str
    store_root: str | None
    join_features: tuple[str, ...]
    threads: int = 1
    faults: ActorFaults = field(default_factory=ActorFaults)


def current_node_id() -> str:
    """The Ray node this process runs on ("" outside Ray, or without Ray installed).

    Only Ray's absence reads as "outside Ray". A Ray that is installed but
    fails to import (a broken wheel, a missing shared library) or to answer
    raises, so a broken install is seen where it happens instead of
    surfacing later as rows scored on no node.
    """
    try:
        import ray
    except ModuleNotFoundError as exc:
        if exc.name != "ray":  # Ray is there, something it needs is not
            raise
        return ""
    if not ray.is_initialized():  # not under Ray: no node to name
        return ""
    return str(ray.get_runtime_context().get_node_id())


class FeatureJoiner:
    """Point-in-time features from a feature store, opened once per actor."""

    def __init__(self, store_root: str | Path, features: Sequence[str]):
        from labs.feature_store import FeatureStore
        from labs.feature_store.views import parse_refs

        # Offline reads only: a memory online store opens no file.
        self.store = FeatureStore(store_root, online="memory")
        self.features = list(features)
        # Each view's as-of index (its feature rows read and sorted) is built
        # here, once per actor. Left to the first join, it was most of the
        # first batch (0.6 s for the three views of `small`, against 12 ms for
        # each batch after it), and that start-up was clocked as scoring.
        if self.features:
            self.store.ensure_views()
            for view in parse_refs(self.features, self.store.views):
                self.store.as_of_index(view)

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` with one column per feature, as of each row's ``event_timestamp``."""
        if not self.features:
            return rows
        return self.store.get_historical_features(rows, self.features)


class Scorer:
    """Join, score and tag one batch; constructed once per Ray Data actor."""

    def __init__(self, config: ScorerConfig):
        self.config = config
        self.predictor = BatchPredictor(
            config.registry_root, config.model_version, threads=config.threads
        )
        self.joiner = (
            FeatureJoiner(config.store_root, config.join_features)
            if config.store_root is not None and config.join_features
            else None
        )
        self.node_id = current_node_id()
        self.pid = os.getpid()
        self.batches = 0

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Request rows (an Arrow table, as read) -> scored, tagged rows (Arrow).

        The answer is Arrow because Ray Data keeps its blocks in Arrow: a
        pandas frame returned here is converted by Ray after the call, in
        the actor but outside the time it clocks. Sampled with py-spy, that
        conversion took about 40% as long as the scoring itself; done here
        with ``pa.Table.from_pandas`` it costs about 1.6 ms of a 4,096-row
        batch's 12 ms, and it is counted.
        """
        self.batches += 1
        self._maybe_die()
        started, cpu = time.time(), time.process_time()
        # NumPy-backed columns with timezone-aware timestamps: what the feature
        # store's join and the model's preprocessing expect.
        out = pa.Table.from_pandas(self.score(batch.to_pandas()), preserve_index=False)
        rows = out.num_rows
        # This process's CPU seconds for the batch, spread over its rows: the
        # driver sums them per actor (the cost of a row, whatever the load).
        cpu_s = (time.process_time() - cpu) / max(rows, 1)
        for name, value in ((CPU, cpu_s), (STARTED, started), (ENDED, time.time())):
            out = out.append_column(name, pa.array(np.full(rows, value)))
        return out

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Join, score and tag request rows (see the module doc)."""
        # BEGIN SOLUTION m2: join the features as of each row's event_timestamp, score, keep OUTPUT_COLUMNS and the partition index; add the node id and worker pid
        rows = self.joiner(frame) if self.joiner is not None else frame
        scored = self.predictor(rows)
        out = scored[[*OUTPUT_COLUMNS, PARTITION]].reset_index(drop=True)
        # One string per batch, stored once: a categorical becomes an Arrow
        # dictionary, not a 56-character string on every row.
        out[NODE] = pd.Categorical([self.node_id] * len(out))
        out[WORKER] = np.full(len(out), self.pid, dtype=np.int32)
        return out
        # END SOLUTION

    def _maybe_die(self) -> None:
        faults = self.config.faults
        if faults.die_on_batch is None or self.batches != faults.die_on_batch:
            return
        if faults.marker is None:
            raise ValueError("ActorFaults.die_on_batch needs a marker file path.")
        try:  # O_EXCL: exactly one actor, once, ever dies
            fd = os.open(faults.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, f"{self.pid} {self.node_id}\n".encode())
        os.close(fd)
        os._exit(1)  # no cleanup, no exception: the process is simply gone

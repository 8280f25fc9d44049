"""Scoring one micro-batch: one batched feature read, one model call, or a fallback.

    scorer = Scorer(store, models, popularity, settings, metrics)
    results = await scorer.score_batch([Job(7, np.array([42, 3])), Job(9, np.array([5]))])
    results[0].scores, results[0].model_version, results[0].fallback

A batch is a list of jobs (one per request). Its rows are stacked, the store
is read **once** for all of them, the model runs **once**, and the scores are
split back per job: batching amortises both stages, not only the model.

Neither stage runs on the event loop: a store read and a forward pass block
for hundreds of microseconds, and an event loop that blocks cannot accept,
parse or answer anything meanwhile. Reads go to a small pool of feature
threads, the model to one model thread (PyTorch uses one intra-op thread
here; the load generator has the other core).

**When the store is slow (m4).** With ``feature_timeout_s > 0`` a read gets
that long, counting any wait for a free feature thread; after it, the batch
is answered from popularity (flagged ``fallback``) instead of waiting, and a
read that had not started yet is cancelled. A thread stuck in a slow read
cannot be killed, so the reads that overran their timeout are counted (a
bulkhead): once every one of the ``feature_threads`` readers is stuck past
its timeout, the next batch falls back at once instead of queueing behind
them, and nothing piles up while the store is sick. Healthy reads that only
have to wait their turn are never refused.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from labs.online_serving.features import Popularity, read_features, stack_rows

if TYPE_CHECKING:
    from labs.feature_store import FeatureStore, OnlineFeatures
    from labs.online_serving.metrics import Metrics
    from labs.online_serving.models import ModelHolder
    from labs.online_serving.settings import Settings
    from labs.training import LoadedModel

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    """One request's work: a user and its candidate items (int64, request order)."""

    user_id: int
    item_ids: np.ndarray
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass
class Scored:
    """A job's answer and where its time went (seconds)."""

    scores: np.ndarray  # float64, one per candidate, request order
    model_version: str
    fallback: bool
    batch_size: int  # requests scored together
    queue_s: float  # from submission to the start of its batch
    features_s: float  # the batch's feature read (or the wait until the timeout)
    model_s: float  # the batch's model call


class FeatureUnavailable(Exception):
    """The store did not answer in time (``timeout``), was busy or failed (``error``)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def split_scores(jobs: list[Job], scores: np.ndarray) -> list[np.ndarray]:
    """Cut the batch's scores back into one array per job (the inverse of stack_rows)."""
    # BEGIN SOLUTION m2: job k owns the next len(job.item_ids) scores; split at the cumulative counts
    offsets = np.cumsum([len(job.item_ids) for job in jobs])[:-1]
    return np.split(np.asarray(scores, dtype=np.float64), offsets)
    # END SOLUTION


def rank_order(scores: np.ndarray) -> np.ndarray:
    """Positions of ``scores`` from highest to lowest; equal scores keep their order."""
    # BEGIN SOLUTION m2: a stable argsort of the negated scores
    return np.argsort(-np.asarray(scores), kind="stable")
    # END SOLUTION


class Scorer:
    """Scores batches of jobs with the current model (see the module doc)."""

    def __init__(
        self,
        store: FeatureStore,
        models: ModelHolder,
        popularity: Popularity,
        settings: Settings,
        metrics: Metrics,
    ):
        self.store = store
        self.models = models
        self.popularity = popularity
        self.settings = settings
        self.metrics = metrics
        self._features_pool = ThreadPoolExecutor(
            settings.feature_threads, thread_name_prefix="features"
        )
        self._model_pool = ThreadPoolExecutor(1, thread_name_prefix="model")
        self._lock = threading.Lock()
        self.reads_in_flight = 0  # store reads submitted and not finished
        self.reads_overdue = 0  # of those, reads still running past their timeout

    async def score_batch(self, jobs: list[Job]) -> list[Scored]:
        """One feature read and one model call for every job; one ``Scored`` per job.

        ``self.models.current`` is read once: the whole batch is scored by one
        model even when a swap lands mid-batch. The read (``fetch_features``)
        and ``model.predict`` (on ``self._model_pool``, the one model thread)
        run off the event loop. When the store does not answer
        (``FeatureUnavailable``, from m4's timeout), the batch is scored by
        ``self.popularity`` instead, flagged ``fallback``, and counted with
        ``metrics.count_fallback(reason, len(jobs))``. Each ``Scored`` says
        where its time went: ``queue_s`` from its job's ``enqueued`` to the
        batch's start, ``features_s`` the read, ``model_s`` the scoring.
        """
        # BEGIN SOLUTION m2: read self.models.current once; stack the rows, fetch_features once (on FeatureUnavailable count_fallback and score with popularity), model.predict once on self._model_pool; split the scores into one Scored per job, with its queue, features and model seconds
        began = time.perf_counter()
        model = self.models.current  # one model for the whole batch, even mid-swap
        users, items = stack_rows(jobs)
        try:
            features: OnlineFeatures | None = await self.fetch_features(
                users, items, model
            )
        except FeatureUnavailable as exc:
            features = None
            self.metrics.count_fallback(exc.reason, len(jobs))
        read_done = time.perf_counter()
        if features is None:
            scores = self.popularity.lookup(items)
        else:
            loop = asyncio.get_running_loop()
            scores = await loop.run_in_executor(
                self._model_pool, model.predict, features
            )
        scored = time.perf_counter()
        parts = split_scores(jobs, scores)
        return [
            Scored(
                part,
                model.version,
                features is None,
                len(jobs),
                began - job.enqueued,
                read_done - began,
                scored - read_done,
            )
            for job, part in zip(jobs, parts, strict=True)
        ]
        # END SOLUTION

    # --- the feature read ------------------------------------------------------------
    def _read(
        self, users: np.ndarray, items: np.ndarray, model: LoadedModel
    ) -> OnlineFeatures:
        """The blocking read, in a feature thread (plus the chaos delay, if set)."""
        if self.settings.feature_delay_s:
            time.sleep(self.settings.feature_delay_s)  # a slow store, on purpose
        return read_features(
            self.store,
            users,
            items,
            model.metadata["features"],
            model.metadata["defaults"],
        )

    def _read_finished(self, _: Future) -> None:
        with self._lock:
            self.reads_in_flight -= 1

    def _overdue_finished(self, _: Future) -> None:
        with self._lock:
            self.reads_overdue -= 1

    def mark_overdue(self, future: Future) -> None:
        """Count ``future`` as stuck past its timeout until it ends (if it still runs)."""
        if future.cancel():  # had not started: it never will, nothing is stuck
            return
        with self._lock:
            self.reads_overdue += 1
        future.add_done_callback(self._overdue_finished)  # runs now if it just ended

    def submit_read(
        self, users: np.ndarray, items: np.ndarray, model: LoadedModel
    ) -> Future:
        """Start a read in a feature thread; ``reads_in_flight`` counts it until it ends."""
        with self._lock:
            self.reads_in_flight += 1
        future = self._features_pool.submit(self._read, users, items, model)
        # A done-callback also runs if the read is cancelled before it started.
        future.add_done_callback(self._read_finished)
        return future

    async def fetch_features(
        self, users: np.ndarray, items: np.ndarray, model: LoadedModel
    ) -> OnlineFeatures:
        """The batch's features; with a timeout set, raises ``FeatureUnavailable`` instead of waiting."""
        if self.settings.feature_timeout_s > 0:
            return await self.guarded_read(users, items, model)
        return await asyncio.wrap_future(self.submit_read(users, items, model))

    async def guarded_read(
        self, users: np.ndarray, items: np.ndarray, model: LoadedModel
    ) -> OnlineFeatures:
        """A read with a bulkhead and a timeout.

        Raises:
            FeatureUnavailable: ``busy`` when all ``feature_threads`` readers
                are stuck past their timeout (do not queue behind a stuck
                store), ``timeout`` after ``feature_timeout_s`` (waiting for a
                free reader included), ``error`` when the store raised (e.g.
                Redis is down).
        """
        # BEGIN SOLUTION m4: refuse ("busy") while every feature thread is stuck past its timeout (reads_overdue); otherwise submit_read and wait at most feature_timeout_s ("timeout", and mark_overdue the read); a store exception is "error"
        if self.reads_overdue >= self.settings.feature_threads:
            raise FeatureUnavailable(
                "busy",
                f"all {self.settings.feature_threads} feature readers are stuck "
                "past their timeout on the store",
            )
        future = self.submit_read(users, items, model)
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(future), self.settings.feature_timeout_s
            )
        except asyncio.TimeoutError:
            self.mark_overdue(future)
            raise FeatureUnavailable(
                "timeout",
                f"the store did not answer within {self.settings.feature_timeout_s} s",
            ) from None
        except Exception as exc:
            log.warning("feature read failed: %s", exc)
            raise FeatureUnavailable("error", f"the store failed: {exc}") from exc
        # END SOLUTION

    def close(self) -> None:
        """Stop the threads (a read stuck in a slow store is abandoned, not awaited)."""
        self._features_pool.shutdown(wait=False, cancel_futures=True)
        self._model_pool.shutdown(wait=False, cancel_futures=True)

"""The ranking service's state: opened once per process, shared by every request.

    service = Service.open(settings)       # blocking: model, store, catalogue (m1)
    service.start()                        # in the event loop: batcher, model watcher
    service.check_request(user_id, item_ids, field="item_ids")   # 4xx or nothing (m1)
    scored = await service.submit(Job(user_id, item_ids))         # admission + scoring
    await service.close()                  # drain, then release everything

``submit`` is where a request becomes work. It is admitted only while fewer
than ``max_queue_size`` requests are pending (m4); then it is either scored
on its own (``max_batch_size == 1``: batching off) or handed to the
micro-batcher (m3), which merges it with its neighbours into one call of
``Scorer.score_batch``.

Each milestone's features can be switched off by a setting, so the earlier
milestones run without the later ones: ``max_batch_size=1`` (no batcher),
``feature_timeout_s=0`` (no timeout or fallback), ``max_queue_size=0`` (no
admission limit), ``model_poll_s=0`` (no hot swap), ``shutdown_grace_s=0``
(no drain) and ``metrics=false``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from labs.feature_store import FeatureStore
from labs.feature_store.views import parse_refs
from labs.online_serving.batcher import MicroBatcher
from labs.online_serving.features import (
    POPULARITY_REF,
    Catalogue,
    Popularity,
    open_store,
)
from labs.online_serving.metrics import NullMetrics, ServiceMetrics
from labs.online_serving.models import ModelHolder
from labs.online_serving.schemas import error_detail
from labs.online_serving.scoring import Job, Scored, Scorer
from labs.online_serving.settings import Settings
from labs.training import ModelRegistry, default_registry_root

log = logging.getLogger(__name__)

READY_PROBE_TIMEOUT_S = 1.0


class RequestRejected(Exception):
    """A request the service will not score: answered with ``status`` and ``detail``."""

    def __init__(self, status: int, detail: list[dict[str, Any]]):
        super().__init__(detail[0]["msg"] if detail else str(status))
        self.status = status
        self.detail = detail


class Overloaded(Exception):
    """The queue is full (or the service is shutting down): answer 503 + Retry-After."""


@dataclass
class Service:
    """Everything a request needs, opened once (see the module doc)."""

    settings: Settings
    store: FeatureStore
    models: ModelHolder
    catalogue: Catalogue
    popularity: Popularity
    metrics: NullMetrics
    scorer: Scorer = field(init=False)
    batcher: MicroBatcher[Job, Scored] | None = field(init=False, default=None)
    pending: int = 0  # admitted requests not yet answered
    closing: bool = False
    # Set while nothing is pending: what a drain waits on, instead of polling.
    idle: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _watcher: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.scorer = Scorer(
            self.store, self.models, self.popularity, self.settings, self.metrics
        )
        if self.settings.batching:
            self.batcher = MicroBatcher(
                self.scorer.score_batch,
                max_batch_size=self.settings.max_batch_size,
                batch_wait_timeout_s=self.settings.batch_wait_timeout_s,
                on_batch=self.metrics.observe_batch,
            )
        self.idle.set()
        self.metrics.track_queue_depth(lambda: self.pending)
        self.metrics.set_model_version(self.models.version)

    # --- m1: opening, readiness, validation --------------------------------------------
    @classmethod
    def open(cls, settings: Settings) -> Service:
        """Load the model and open the store once, before the first request (blocking)."""
        metrics = ServiceMetrics() if settings.metrics else NullMetrics()
        # BEGIN SOLUTION m1: set torch's threads, open the store (open_store), load the model behind settings.model_alias from the registry (ModelHolder.load_initial), read the catalogue and the popularity fallback
        torch.set_num_threads(settings.torch_threads)
        root = settings.registry_root or default_registry_root(
            settings.preset, settings.seed
        )
        models = ModelHolder(ModelRegistry(root), settings.model_alias)
        models.load_initial()
        store = open_store(settings)
        fill = models.current.metadata["defaults"].get(POPULARITY_REF, 0.0)
        return cls(
            settings,
            store,
            models,
            Catalogue.from_shopstream(settings.preset, settings.seed),
            Popularity.from_store(store, float(fill)),
            metrics,
        )
        # END SOLUTION

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether to send traffic here: not closing, a model loaded, the store answering.

        The probe reads what the served model reads: one key of each of its
        views, its features of that view. A store that answers for some other
        view, or lacks one of the model's features, is not ready for it.
        ``/healthz`` only says the process is up; ``/readyz`` asks this.
        """
        # BEGIN SOLUTION m1: not ready while closing or without a model; in a thread (at most READY_PROBE_TIMEOUT_S), read one key of each view the served model reads, its features; report the model version
        detail: dict[str, Any] = {
            "model_version": self.models.version,
            "store": self.settings.store_backend,  # never a path or a URL
        }
        if self.closing:
            return False, {**detail, "reason": "shutting down"}
        model = self.models.current
        if model is None:
            return False, {**detail, "reason": "no model loaded"}

        def probe() -> None:  # one key of each view the model reads, its features
            reads = parse_refs(model.metadata["features"], self.store.views)
            for view, names in reads.items():
                self.store.online.read_batch(view, ["0"], names)

        try:
            await asyncio.wait_for(asyncio.to_thread(probe), READY_PROBE_TIMEOUT_S)
        except Exception as exc:  # slow, failing or missing a feature: not ready
            reason = (
                f"store did not answer a probe read of the model's features: {exc!r}"
            )
            return False, {**detail, "reason": reason}
        return True, detail
        # END SOLUTION

    def check_request(self, user_id: int, item_ids: list[int], field: str) -> None:
        """Refuse what cannot be scored, naming the field; return if it can.

        Raises:
            RequestRejected: 422 for more than ``max_candidates`` items or an
                item not in the catalogue (``field`` names the item field),
                404 for a user not in the catalogue.
        """
        # BEGIN SOLUTION m1: 422 "too_long" if len(item_ids) > max_candidates; 404 "unknown_user" for a user not in the catalogue; 422 "unknown_item" listing (a few of) the unknown items; each message says what to do
        limit = self.settings.max_candidates
        if len(item_ids) > limit:
            raise RequestRejected(
                422,
                [
                    error_detail(
                        field,
                        f"{len(item_ids)} candidates is more than max_candidates="
                        f"{limit}; send at most {limit} items per request.",
                        "too_long",
                    )
                ],
            )
        if self.catalogue.unknown_users([user_id]):
            raise RequestRejected(
                404,
                [
                    error_detail(
                        "user_id",
                        f"unknown user_id {user_id}: no such user among the "
                        f"{len(self.catalogue.users)} in the catalogue.",
                        "unknown_user",
                        user_id,
                    )
                ],
            )
        unknown = self.catalogue.unknown_items(item_ids)
        if unknown:
            shown = ", ".join(map(str, unknown[:10]))
            more = f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
            raise RequestRejected(
                422,
                [
                    error_detail(
                        field,
                        f"{len(unknown)} unknown item id(s): {shown}{more}; "
                        "send only items of the catalogue.",
                        "unknown_item",
                    )
                ],
            )
        # END SOLUTION

    # --- serving ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background work (call inside the event loop)."""
        if self.batcher is not None:
            self.batcher.start()
        if self.settings.model_poll_s > 0:
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch_models(), name="model-watcher"
            )

    async def _watch_models(self) -> None:
        while True:
            await asyncio.sleep(self.settings.model_poll_s)
            await self.reload_model()

    async def reload_model(self) -> bool:
        """Re-resolve the alias now; ``True`` if the model was swapped."""
        try:
            swapped = await self.models.refresh()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a corrupt or missing version: keep the old one
            log.warning(
                "model refresh failed, still serving %s: %s: %s",
                self.models.version,
                type(exc).__name__,
                exc,
            )
            self.metrics.count_refresh_failure(type(exc).__name__)
            return False
        if swapped:
            self.metrics.set_model_version(self.models.version)
        return swapped

    async def submit(self, job: Job) -> Scored:
        """Admit ``job`` (or raise ``Overloaded``) and score it, batched if enabled."""
        if self.settings.max_queue_size or self.closing:
            self.admit()
        self.pending += 1
        self.idle.clear()
        try:
            if self.batcher is None:
                self.metrics.observe_batch(1)
                return (await self.scorer.score_batch([job]))[0]
            return await self.batcher.submit(job)
        finally:
            self.pending -= 1
            if self.pending == 0:
                self.idle.set()

    def admit(self) -> None:
        """Refuse new work while closing or when ``max_queue_size`` requests are pending.

        Raises:
            Overloaded: answered 503 with ``Retry-After``; counted as shed.
        """
        # BEGIN SOLUTION m4: raise Overloaded while closing, or when max_queue_size (> 0) requests are already pending; count each refusal of a full queue (metrics.count_shed)
        if self.closing:
            raise Overloaded("the service is shutting down; retry on another replica.")
        limit = self.settings.max_queue_size
        if limit and self.pending >= limit:
            self.metrics.count_shed()
            raise Overloaded(
                f"{self.pending} requests are already waiting (max_queue_size={limit}); "
                "retry after the Retry-After delay."
            )
        # END SOLUTION

    async def drain(self, grace_s: float) -> None:
        """Stop admitting, let admitted requests finish (up to ``grace_s``), drain the batcher."""
        # BEGIN SOLUTION m4: set closing; wait on self.idle until nothing is pending (at most grace_s, without polling); then stop the batcher with the time left (it finishes what is queued)
        self.closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.idle.wait(), grace_s)
        if self.batcher is not None:
            await self.batcher.stop(timeout_s=max(0.0, deadline - loop.time()))
        if self.pending:
            log.warning(
                "shutdown: %d requests still pending after %.1f s",
                self.pending,
                grace_s,
            )
        # END SOLUTION

    async def close(self) -> None:
        """Drain (if a grace period is set), then release threads, tasks and the store."""
        self.closing = True
        if self.settings.shutdown_grace_s > 0:
            await self.drain(self.settings.shutdown_grace_s)
        elif self.batcher is not None:
            self.batcher.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        self.scorer.close()
        self.store.close()
        log.info("service closed")

"""The served model and its hot swap: the registry alias is re-resolved, never restarted.

    models = ModelHolder(ModelRegistry(root), alias="production")
    models.load_initial()                    # at start-up
    models.current                           # what the next batch scores with
    await models.refresh()                   # alias moved? load, warm, swap; True if swapped
    task = asyncio.create_task(models.watch(1.0))   # refresh every second

A deploy is ``registry.promote("v0002", "production")`` (an atomic file
replace, see Lab 2). The service notices it within ``model_poll_s`` (or at
``POST /admin/reload``), loads the new version **off the request path** (in
a thread, while the old model keeps serving), runs one warm-up prediction so
the first request does not pay for lazy initialisation, and then swaps one
reference. A batch reads ``models.current`` once at its start and scores
every row with that model, so no response mixes two versions, and no request
waits for a load or fails during one.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from labs.training import LoadedModel, ModelRegistry

log = logging.getLogger(__name__)


def warm_up(model: LoadedModel) -> LoadedModel:
    """Run one prediction (every feature null, unknown ids) so the model is ready."""
    row = {"user_id": np.zeros(1, np.int64), "item_id": np.zeros(1, np.int64)}
    row.update({f: np.full(1, np.nan) for f in model.metadata["features"]})
    model.predict(row)
    return model


def load_warm(registry: ModelRegistry, ref: str) -> LoadedModel:
    """Load (checksums verified, weights only) and warm a version; blocking."""
    return warm_up(registry.load(ref))


class ModelHolder:
    """The model being served, swapped atomically when the alias moves."""

    def __init__(self, registry: ModelRegistry, alias: str = "production"):
        self.registry = registry
        self.alias = alias
        self.current: LoadedModel | None = None
        self.swaps = 0
        self._lock: asyncio.Lock | None = None

    def load_initial(self) -> LoadedModel:
        """Load what the alias names now (at start-up, before serving)."""
        self.current = load_warm(self.registry, self.alias)
        log.info("serving %s (%s)", self.current.version, self.alias)
        return self.current

    @property
    def version(self) -> str:
        return self.current.version if self.current is not None else ""

    async def refresh(self) -> bool:
        """Swap to the alias's version if it moved; ``True`` if a swap happened.

        Resolving and loading run in a worker thread; the swap is one
        assignment on the event loop. Concurrent refreshes are serialised.
        A version that fails to load raises, and the old model stays.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # BEGIN SOLUTION m4: resolve the alias in a thread; if it names another version, load_warm it in a thread, then swap self.current in one assignment (count the swap)
            version = await asyncio.to_thread(self.registry.resolve, self.alias)
            if self.current is not None and version == self.current.version:
                return False
            model = await asyncio.to_thread(load_warm, self.registry, version)
            previous, self.current = self.version, model
            self.swaps += 1
            log.info("hot swap: %s -> %s (%s)", previous, model.version, self.alias)
            return True
            # END SOLUTION

    async def watch(self, interval_s: float) -> None:
        """Refresh every ``interval_s`` until cancelled; a failed refresh keeps the old model."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "model refresh failed, still serving %s: %s", self.version, exc
                )

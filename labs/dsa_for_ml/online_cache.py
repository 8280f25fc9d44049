"""m1 — a read-through LRU cache in front of the feature store's online store.

    from labs.feature_store import build_store
    from labs.dsa_for_ml.online_cache import CachedOnlineStore, with_cache

    store = build_store("tiny")                      # SQLite online store
    cached = with_cache(store, capacity=500)         # same store, reads via an LRU
    cached.get_online_features({"user_id": [1, 2]}, ["user_activity:clicks_1h"])
    cached.online.hits, cached.online.misses         # what the cache did

:class:`CachedOnlineStore` is itself an ``OnlineStore`` (the interface of
``labs/feature_store/online_store.py``), so a ``FeatureStore`` reads through
it without knowing. This is the in-process "L1" cache of a serving replica:
hot users and items are answered from memory; only the misses of a batch go
to SQLite or Redis, in one ``read_batch`` (the store's one-round-trip rule).

Choices, each one an interview answer:

- **What is cached:** the stored row of one ``(view, features, entity key)``:
  found or not, its event time and the feature values. Absent keys are
  cached too (negative caching), or a stream of unknown users would reach
  the store on every request.
- **Freshness:** writes through this object invalidate the keys they touch
  (write-invalidate). A materialisation run by another process does not pass
  through it; ``max_age_s`` bounds how stale a cached row can get then (an
  entry older than that is a miss and is re-read).
- **Counting:** a lookup is one *distinct* key of a batch; a slate that
  names its user ten times asks the cache once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from labs.dsa_for_ml.lru import LRUCache
from labs.feature_store.online_store import OnlineBatch, OnlineRead, OnlineStore
from labs.feature_store.store import FeatureStore

# A cached row: (found, event_us, values as a tuple of floats, cached_at).
Row = tuple[bool, int, tuple[float, ...], float]


class CachedOnlineStore(OnlineStore):
    """An LRU read-through cache over another online store.

    Args:
        backend: the store that holds the data (SQLite, Redis, memory).
        capacity: how many ``(view, features, key)`` rows to keep.
        max_age_s: a cached row older than this is re-read (``None``: no limit).
        clock: seconds, for ``max_age_s``; injected in tests.

    Attributes:
        hits, misses: distinct keys of each batch served from the cache / read
            from the backend.
        backend_reads: ``read_batch`` calls sent to the backend.
    """

    def __init__(
        self,
        backend: OnlineStore,
        capacity: int,
        *,
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not isinstance(backend, OnlineStore):
            raise TypeError(
                f"CachedOnlineStore wraps an OnlineStore (SqliteOnlineStore, "
                f"RedisOnlineStore, MemoryOnlineStore), got {type(backend).__name__}."
            )
        if max_age_s is not None and not max_age_s > 0:
            raise ValueError(
                f"max_age_s must be positive seconds or None, got {max_age_s!r}."
            )
        self.backend = backend
        self.cache: LRUCache[tuple[str, tuple[str, ...], str], Row] = LRUCache(capacity)
        self.max_age_s = max_age_s
        self.clock = clock
        # Same data, same identity: a FeatureStore finds the backend's watermarks.
        self.kind = backend.kind
        self.path = getattr(backend, "path", None)
        self.hits = self.misses = self.stale = self.backend_reads = 0
        self._shapes: dict[str, set[tuple[str, ...]]] = {}  # view -> feature tuples

    def describe(self) -> str:
        return self.backend.describe()

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def reset_stats(self) -> None:
        self.hits = self.misses = self.stale = self.backend_reads = 0
        self.cache.stats.reset()

    # --- reads ----------------------------------------------------------------------
    def read_batch(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> OnlineRead:
        """Rows of ``keys`` from the cache; the misses in one backend ``read_batch``.

        Same contract as the backend's: aligned with ``keys`` (repeats
        allowed), missing keys read as not found with NaN values.
        """
        shape = tuple(features)
        self._shapes.setdefault(view, set()).add(shape)
        now = self.clock()
        # BEGIN SOLUTION m1: serve distinct keys from the LRU, read all misses in one backend call, cache them
        rows: dict[str, Row] = {}
        wanted: list[str] = []
        for key in dict.fromkeys(keys):  # distinct, in request order
            row = self.cache.get((view, shape, key))
            if row is not None and (
                self.max_age_s is None or now - row[3] <= self.max_age_s
            ):
                rows[key] = row
                self.hits += 1
                continue
            if row is not None:
                self.stale += 1
            self.misses += 1
            wanted.append(key)
        if wanted:
            read = self.backend.read_batch(view, wanted, shape)
            self.backend_reads += 1
            for key, found, event_us, values in zip(
                wanted,
                read.found.tolist(),
                read.event_us.tolist(),
                read.values.tolist(),
                strict=True,
            ):
                row = (found, event_us, tuple(values), now)
                rows[key] = row
                self.cache.put((view, shape, key), row)
        ordered = [rows[key] for key in keys]
        return OnlineRead(
            found=np.array([r[0] for r in ordered], dtype=bool),
            event_us=np.array([r[1] for r in ordered], dtype=np.int64),
            values=np.array([r[2] for r in ordered], dtype=np.float64).reshape(
                len(keys), len(shape)
            ),
        )
        # END SOLUTION

    # --- writes and the rest of the interface ------------------------------------------
    def invalidate(self, view: str, keys: Sequence[str]) -> int:
        """Drop the cached rows of ``keys`` in ``view`` (every feature list)."""
        dropped = 0
        for shape in self._shapes.get(view, ()):
            for key in keys:
                if self.cache.pop((view, shape, key), None) is not None:
                    dropped += 1
        return dropped

    def write_batch(self, view: str, batch: OnlineBatch) -> int:
        """Write through to the backend, then invalidate the keys written."""
        changed = self.backend.write_batch(view, batch)
        self.invalidate(view, list(batch.keys))
        return changed

    def scan(self, view: str) -> OnlineBatch:
        return self.backend.scan(view)

    def teardown(self) -> None:
        self.cache.clear()
        self.backend.teardown()

    def close(self) -> None:
        self.backend.close()


def with_cache(store: FeatureStore, capacity: int, **options: Any) -> FeatureStore:
    """The same feature store (folder, views, online data) read through an LRU.

    The returned store shares ``store``'s online backend; ``options`` go to
    :class:`CachedOnlineStore` (``max_age_s``, ``clock``).
    """
    cached = CachedOnlineStore(store.online, capacity, **options)
    return FeatureStore(store.root, list(store.views.values()), online=cached)

"""The in-memory online store: a dict per view, in this process only.

    online = MemoryOnlineStore()

The floor of online latency (no I/O, no serialisation) and the store for
tests. It is lost when the process ends and not shared between processes;
a lock makes a write atomic with respect to concurrent reads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from labs.feature_store.online_store import (
    OnlineBatch,
    OnlineRead,
    OnlineStore,
    check_features,
    check_schema,
)

Row = tuple[int, int, np.ndarray]  # (event_us, created_us, values of shape (f,))


class MemoryOnlineStore(OnlineStore):
    """Online rows in Python dicts: ``view -> entity key -> (event, created, values)``."""

    kind = "memory"

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Row]] = {}
        self._features: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def write_batch(self, view: str, batch: OnlineBatch) -> int:
        check_schema(view, self._features.get(view), batch.features)
        with self._lock:
            self._features[view] = batch.features
            table = self._rows.setdefault(view, {})
            events, createds = batch.event_us.tolist(), batch.created_us.tolist()
            # BEGIN SOLUTION m4: keep each key's row with the largest (event, created); count the changes
            written = 0
            for i, key in enumerate(batch.keys):
                new = (events[i], createds[i])
                old = table.get(key)
                if old is None or new > old[:2]:
                    table[key] = (*new, batch.values[i].copy())
                    written += 1
            return written
            # END SOLUTION

    def read_batch(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> OnlineRead:
        stored = self._features.get(view)
        if stored is None:
            return OnlineRead.empty(len(keys), len(features))
        columns = check_features(view, stored, features)
        table = self._rows[view]
        # BEGIN SOLUTION m5: look up every key, aligned with the request
        rows = [table.get(key) for key in keys]
        read = OnlineRead.empty(len(keys), len(features))
        hits = [row for row in rows if row is not None]
        if hits:
            read.found = np.array([row is not None for row in rows], dtype=bool)
            read.event_us[read.found] = [row[0] for row in hits]
            read.values[read.found] = np.stack([row[2] for row in hits])[:, columns]
        return read
        # END SOLUTION

    def scan(self, view: str) -> OnlineBatch:
        stored = self._features.get(view)
        if stored is None:
            return OnlineBatch([], [], [], np.zeros((0, 0)), ())
        with self._lock:
            items = sorted(self._rows[view].items())
        return OnlineBatch(
            [k for k, _ in items],
            np.array([r[0] for _, r in items], dtype=np.int64),
            np.array([r[1] for _, r in items], dtype=np.int64),
            np.array([r[2] for _, r in items], dtype=np.float64).reshape(
                len(items), len(stored)
            ),
            stored,
        )

    def teardown(self) -> None:
        with self._lock:
            self._rows.clear()
            self._features.clear()

"""Watermarks: how far each view was materialised into one online store.

    marks = Watermarks(registry, online, root)
    marks.get("user_activity")            # epoch µs, or None if never materialised
    marks.advance("user_activity", end_us)  # moves forward only
    marks.next_start("user_activity")     # where an incremental run begins

A watermark belongs to a pair (view, online store): the same view may be
materialised into SQLite up to Tuesday and into Redis up to Friday. So the
registry keys it by the online store's identity (``OnlineStore.describe()``).
A memory store's rows die with the process, and so must its watermarks: they
are kept in this object, never written to the registry.

The watermark is also the online store's present: ``get_online_features``
judges the TTL at it unless the caller passes ``now``.
"""

from __future__ import annotations

from pathlib import Path

from labs.feature_store.online_store import OnlineStore
from labs.feature_store.registry import Registry

EARLIEST_US = -(2**62)  # "from the beginning" for a first incremental run


def online_identity(online: OnlineStore, root: Path) -> str:
    """The name the registry files ``online``'s watermarks under.

    A SQLite file inside the store's folder is named relative to it, so the
    watermarks survive moving or copying the folder.
    """
    path = getattr(online, "path", None)
    if online.kind == "sqlite" and path and Path(path).parent == root:
        return f"sqlite:{Path(path).name}"
    return online.describe()


class Watermarks:
    """Per-view watermarks (epoch µs) of one online store; see the module docstring."""

    def __init__(self, registry: Registry, online: OnlineStore, root: Path):
        self._registry = registry
        self._persist = online.kind != "memory"
        self._online_id = online_identity(online, root)
        self._in_memory: dict[str, int] = {}

    def get(self, view: str) -> int | None:
        """How far ``view`` was materialised (epoch µs), or ``None``."""
        if self._persist:
            return self._registry.watermark(self._online_id, view)
        return self._in_memory.get(view)

    def advance(self, view: str, end_us: int) -> None:
        """Move ``view``'s watermark to ``end_us`` if that is later (a backfill never moves it back)."""
        current = self.get(view)
        end_us = max(end_us, current) if current is not None else end_us
        if self._persist:
            self._registry.set_watermark(self._online_id, view, end_us)
        else:
            self._in_memory[view] = end_us

    def next_start(self, view: str) -> int:
        """The first event time an incremental run of ``view`` covers: just past the mark."""
        mark = self.get(view)
        return EARLIEST_US if mark is None else mark + 1

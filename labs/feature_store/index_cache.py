"""The as-of indexes of the views, kept in memory between point-in-time joins.

    cache = IndexCache()
    index = cache.get(view, feature_path)   # built on first use, then reused

Building a view's :class:`~labs.feature_store.pit_join.AsOfIndex` reads its
Parquet file and sorts every feature row: most of a cold join's time. A
training job joins several label sets against the same views, so the store
keeps each index and rebuilds it only when the view's file changes, judged
by the file's modification time and size (a recompute rewrites the file).
"""

from __future__ import annotations

from pathlib import Path

from labs.feature_store.pit_join import (
    AsOfIndex,
    SplitIndex,
    build_index,
    load_feature_rows,
)
from labs.feature_store.views import FeatureView

FileVersion = tuple[int, int]  # (st_mtime_ns, st_size) of a feature file


class IndexCache:
    """One :class:`AsOfIndex` per view, rebuilt when the view's file changes."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[FileVersion, AsOfIndex | SplitIndex]] = {}

    def get(self, view: FeatureView, path: Path) -> AsOfIndex | SplitIndex:
        """``view``'s index over the feature rows at ``path``, built if stale."""
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._entries.get(view.name)
        if cached is None or cached[0] != version:
            rows = load_feature_rows(path, view.entity, view.feature_names)
            cached = self._entries[view.name] = (version, build_index(rows))
        return cached[1]

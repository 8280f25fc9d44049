"""The views' feature rows on disk: computed from the offline store, one file per view.

    counts = compute_feature_files(store.offline, views, items, computed_at_us, root)
    feature_path(root, "user_activity")    # <root>/features/user_activity.parquet

The stored impressions are read once with the columns every view needs and
the derived keys added (``keys.py``); each view's feature rows
(``windows.compute_view``, m2) then go to its Parquet file. The files are
staged and published together (``atomic_write.py``), so a join running
meanwhile reads the old rows or the new ones, and a full disk leaves every
view's old file in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from labs.feature_store.atomic_write import StagedFiles
from labs.feature_store.keys import (
    DERIVED_KEYS,
    ItemCategories,
    source_columns,
    with_keys,
)
from labs.feature_store.offline import OfflineStore
from labs.feature_store.views import FeatureView
from labs.feature_store.windows import compute_view

TIMES = ("event_timestamp", "created_timestamp")


def feature_path(root: Path, view: str) -> Path:
    """Where the store at ``root`` keeps ``view``'s feature rows."""
    return root / "features" / f"{view}.parquet"


def entity_ids(path: Path, entity: str) -> np.ndarray:
    """Every non-null key in the feature file at ``path``, sorted and distinct."""
    keys = pq.read_table(path, columns=[entity])[entity]
    return np.sort(pd.unique(keys.drop_null().to_numpy(zero_copy_only=False)))


def read_events(
    offline: OfflineStore,
    views: Iterable[FeatureView],
    items: ItemCategories | None,
) -> pd.DataFrame:
    """The stored impressions' columns the views need, times in UTC µs, keys derived.

    Raises:
        ValueError: an impression's item is missing from the items table, so
            a derived key (``user_category``) cannot be built for it.
    """
    views = list(views)
    entities = {v.entity for v in views}
    needed = sorted(
        source_columns(entities)
        | {a.column for v in views for a in v.aggregations if a.column}
        | set(TIMES)
    )
    events = offline.query(f"SELECT {', '.join(needed)} FROM impressions")
    for name in TIMES:
        events[name] = events[name].dt.tz_convert("UTC").dt.as_unit("us")
    events = with_keys(events, entities, items)
    for entity in entities & DERIVED_KEYS.keys():
        unkeyed = events[entity].isna()
        if unkeyed.any():  # an item the items table lacks: never drop silently
            unknown = events.loc[unkeyed, "item_id"].unique()[:5].tolist()
            raise ValueError(
                f"{int(unkeyed.sum())} stored impressions show items the items "
                f"table lacks (e.g. item ids {unknown}), so they have no "
                f"{entity!r} key; ingest an items table that covers them."
            )
    return events


def compute_feature_files(
    offline: OfflineStore,
    views: Mapping[str, FeatureView],
    items: ItemCategories | None,
    computed_at: int,
    root: Path,
    stage: StagedFiles,
) -> dict[str, int]:
    """Compute every view from the offline store and stage its file; rows per view.

    Args:
        offline: the store's events.
        views: the views by name.
        items: the items table, for views keyed by a derived key.
        computed_at: the ``created_timestamp`` of every feature row, epoch µs.
        root: the store's folder (files go to ``root/features/``).
        stage: where the files are staged; the caller publishes them.
    """
    events = read_events(offline, views.values(), items)
    counts = {}
    for view in views.values():
        rows = compute_view(view, events, computed_at)
        stage.parquet(
            rows, feature_path(root, view.name), f"the feature rows of {view.name!r}"
        )
        counts[view.name] = len(rows)
    return counts

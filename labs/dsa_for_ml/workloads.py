"""ShopStream as the workloads of this lab (given, not an exercise).

    from labs.dsa_for_ml.workloads import access_log, stream_events
    log = access_log("small")          # one row per ranking request, in time order
    log.user_keys, log.item_keys       # the online store's key sequences
    events = stream_events(store)      # the feature store's valid rows, typed

The serving path reads the online store once per view per ranking request:
the request's user (``user_activity``), the ten items of its slate
(``item_stats``) and the user with each item's category (``user_category``). Replaying the requests in event-time order gives the real,
skewed access pattern: a few hot users and a Zipf-like head of popular items.
Rows ShopStream corrupted on purpose (``dirty_mask``) are left out and
counted, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.shopstream import dirty_mask, load
from labs.feature_store.store import FeatureStore


@dataclass
class AccessLog:
    """The ranking requests of a ShopStream preset, in event-time order.

    Attributes:
        request_id, user_id, event_us: one entry per request, shape ``(r,)``.
        item_id: the slate, shape ``(r, slate)``, in position order.
        dirty_rows: impressions left out because ShopStream corrupted them.
    """

    request_id: np.ndarray
    user_id: np.ndarray
    event_us: np.ndarray
    item_id: np.ndarray
    dirty_rows: int

    def __len__(self) -> int:
        return len(self.request_id)

    @property
    def user_keys(self) -> list[str]:
        """The online store's user keys, one per request (``str(user_id)``)."""
        return [str(u) for u in self.user_id.tolist()]

    @property
    def item_keys(self) -> list[str]:
        """The item keys, ten per request, request by request."""
        return [str(i) for i in self.item_id.ravel().tolist()]

    def head(self, n: int) -> AccessLog:
        """The first ``n`` requests."""
        return AccessLog(
            self.request_id[:n],
            self.user_id[:n],
            self.event_us[:n],
            self.item_id[:n],
            self.dirty_rows,
        )


def clean_impressions(preset: str = "tiny", seed: int = 0) -> tuple[pd.DataFrame, int]:
    """ShopStream's impressions without its corrupted rows, in event-time order.

    Returns:
        The rows sorted by ``(event_timestamp, request_id, position)`` and the
        number of corrupted rows left out.
    """
    raw = load(preset, seed).impressions
    dirty = dirty_mask(raw)
    rows = raw[~dirty].copy()
    rows["user_id"] = rows["user_id"].astype("int64")
    rows = rows.sort_values(
        ["event_timestamp", "request_id", "position"], kind="stable"
    ).reset_index(drop=True)
    return rows, int(dirty.sum())


def access_log(preset: str = "tiny", seed: int = 0) -> AccessLog:
    """The ranking requests of ``preset``: who asked, when, and the slate shown."""
    rows, dirty = clean_impressions(preset, seed)
    sizes = rows.groupby("request_id", sort=False).size()
    if sizes.nunique() != 1:
        # A request that lost a slot to corruption still reads its other items;
        # pad nothing, keep only full slates and say so in the count.
        full = sizes.index[sizes == sizes.max()]
        dirty += int(len(rows) - rows["request_id"].isin(full).sum())
        rows = rows[rows["request_id"].isin(full)]
    slate = int(sizes.max())
    first = rows.iloc[::slate]
    return AccessLog(
        request_id=first["request_id"].to_numpy(),
        user_id=first["user_id"].to_numpy(),
        event_us=first["event_timestamp"].array.asi8.copy(),
        item_id=rows["item_id"].to_numpy().reshape(-1, slate),
        dirty_rows=dirty,
    )


def stream_events(store: FeatureStore) -> pd.DataFrame:
    """The valid impressions the store holds, as the stream would deliver them.

    Columns ``user_id``, ``item_id``, ``clicked``, ``event_us`` and
    ``arrival_us`` (the ``created_timestamp``), sorted by arrival.
    """
    frame = store.offline.query(
        "SELECT user_id, item_id, clicked, event_timestamp, created_timestamp "
        "FROM impressions"
    )
    out = pd.DataFrame(
        {
            "user_id": frame["user_id"].to_numpy(dtype=np.int64),
            "item_id": frame["item_id"].to_numpy(dtype=np.int64),
            "clicked": frame["clicked"].to_numpy(dtype=np.float64),
            "event_us": frame["event_timestamp"].dt.as_unit("us").array.asi8,
            "arrival_us": frame["created_timestamp"].dt.as_unit("us").array.asi8,
        }
    )
    return out.sort_values("arrival_us", kind="stable").reset_index(drop=True)

"""What the service reads besides the model: the online store, the catalogue, popularity.

    store = open_store(settings)                       # Lab 1's feature store
    users, items = stack_rows(jobs)                    # one row per (user, candidate)
    features = read_features(store, users, items, model.metadata["features"],
                             model.metadata["defaults"])   # ONE batched online read
    catalogue.unknown_users([7, 10_000_000])           # ids no account has
    popularity.lookup(items)                           # the fallback's scores

The feature list and its defaults travel with the model (``metadata``), so
a model promoted with other features is served with the features it was
trained on; the service never keeps its own copy of the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from common.shopstream import ensure

if TYPE_CHECKING:
    from labs.feature_store import FeatureStore, OnlineFeatures
    from labs.online_serving.scoring import Job
    from labs.online_serving.settings import Settings

POPULARITY_VIEW, POPULARITY_FEATURE = "item_stats", "ctr_7d"  # the fallback's score
POPULARITY_REF = (
    f"{POPULARITY_VIEW}:{POPULARITY_FEATURE}"  # as a model's metadata names it
)


def open_store(settings: Settings) -> FeatureStore:
    """Lab 1's store for the preset, on the configured online backend.

    SQLite reads the cached ``online.db`` of ``build_store`` (read-only
    here); Redis and memory are filled from the offline store at start-up.
    """
    from labs.feature_store import build_store

    options: dict[str, Any] = {}
    if settings.store_backend == "redis":
        if not settings.store_url:
            raise ValueError(
                "store_backend='redis' needs LABKIT_SERVING_STORE_URL, e.g. "
                "redis://127.0.0.1:6379/0."
            )
        options["url"] = settings.store_url
    return build_store(
        settings.preset, settings.seed, online=settings.store_backend, **options
    )


def stack_rows(jobs: Sequence[Job]) -> tuple[np.ndarray, np.ndarray]:
    """Every job's rows, concatenated: ``(users, items)``, both int64 ``(N,)``.

    A job is one request: a user and its candidate items. Its rows are
    ``(user, item)`` for each candidate, in the request's order, so job
    ``k`` owns rows ``offsets[k]:offsets[k + 1]`` where ``offsets`` is the
    cumulative count of candidates.
    """
    # BEGIN SOLUTION m2: repeat each job's user once per candidate and concatenate the candidates, keeping job order
    counts = [len(job.item_ids) for job in jobs]
    users = np.repeat(np.array([job.user_id for job in jobs], dtype=np.int64), counts)
    items = np.concatenate([job.item_ids for job in jobs]).astype(np.int64, copy=False)
    return users, items
    # END SOLUTION


def read_features(
    store: FeatureStore,
    users: np.ndarray,
    items: np.ndarray,
    features: Sequence[str],
    defaults: dict[str, float],
) -> OnlineFeatures:
    """The model's features for every row, in one batched online read.

    Returns an ``OnlineFeatures`` mapping with ``user_id``, ``item_id`` and
    each feature (float64, nulls replaced by ``defaults``): exactly the
    frame ``LoadedModel.predict`` takes.
    """
    # BEGIN SOLUTION m2: one get_online_features call keyed by both user_id and item_id, nulls filled with the model's defaults
    return store.get_online_features(
        {"user_id": users, "item_id": items}, features, defaults=defaults
    )
    # END SOLUTION


@dataclass(frozen=True)
class Catalogue:
    """The ids that exist: every user account and every item, sorted.

    Membership is asked once or a hundred times per request, so it is a
    Python set lookup: ``np.searchsorted`` on one id costs about 8 µs of
    array set-up (a 1-row array, a call into numpy, a list back), the set
    lookup about 0.2 µs with its call. At 60k users and 50k items the sets
    take a few MB.
    """

    users: np.ndarray  # int64, sorted, unique
    items: np.ndarray
    _user_set: frozenset[int] = field(init=False, repr=False, compare=False)
    _item_set: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for ids in (self.users, self.items):
            ids.setflags(write=False)  # the sets below always agree with the arrays
        # A frozen dataclass sets even its own fields through object.__setattr__.
        object.__setattr__(self, "_user_set", frozenset(self.users.tolist()))
        object.__setattr__(self, "_item_set", frozenset(self.items.tolist()))

    @classmethod
    def from_shopstream(cls, preset: str, seed: int = 0) -> Catalogue:
        folder = ensure(preset, seed)
        users = pd.read_parquet(folder / "users.parquet", columns=["user_id"])
        items = pd.read_parquet(folder / "items.parquet", columns=["item_id"])
        return cls(
            np.unique(users["user_id"].to_numpy(dtype=np.int64)),
            np.unique(items["item_id"].to_numpy(dtype=np.int64)),
        )

    def unknown_users(self, ids: Sequence[int]) -> list[int]:
        return [i for i in ids if i not in self._user_set]

    def unknown_items(self, ids: Sequence[int]) -> list[int]:
        return [i for i in ids if i not in self._item_set]


@dataclass(frozen=True)
class Popularity:
    """The fallback's scores: each item's 7-day click-through rate at start-up.

    Read once from the online store (``item_stats:ctr_7d``) so that it needs
    no store when the store is what failed. Items without a rate get
    ``default``, the model's fill value for that feature (the training mean).
    """

    items: np.ndarray  # int64, sorted
    scores: np.ndarray  # float64, aligned with items
    default: float

    @classmethod
    def from_store(cls, store: FeatureStore, default: float) -> Popularity:
        batch = store.online.scan(POPULARITY_VIEW)
        if not batch.keys:
            return cls(np.zeros(0, np.int64), np.zeros(0), default)
        column = list(batch.features).index(POPULARITY_FEATURE)
        items = np.array([int(k) for k in batch.keys], dtype=np.int64)
        scores = np.nan_to_num(batch.values[:, column], nan=default)
        order = np.argsort(items)
        return cls(items[order], scores[order], default)

    def lookup(self, items: np.ndarray) -> np.ndarray:
        """Scores of ``items`` (float64, same order); ``default`` for unknown ones."""
        if len(self.items) == 0:
            return np.full(len(items), self.default)
        position = np.minimum(np.searchsorted(self.items, items), len(self.items) - 1)
        hit = self.items[position] == items
        return np.where(hit, self.scores[position], self.default)

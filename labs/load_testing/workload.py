"""What a ShopStream user sends: /score and /rank bodies with hot users and items.

    workload = Workload.from_shopstream("small")
    requests = workload.requests(2000, seed=0)     # [("/score", {...}), ("/rank", {...}), ...]
    workload.write_locust_spec(path, think_time_s=(0.5, 1.5))

A load test is only as good as its traffic. Uniform ids spread reads evenly
over caches and store pages; real traffic does not: in ShopStream a few users
are far more active (lognormal activity) and a few items far more shown
(Zipf-like popularity). Here each id is drawn with probability proportional
to its impressions in the log, plus one, so that users and items never seen
still come up now and then (cold keys are part of real traffic too).

A request is ``/score`` (one user, one item) with weight ``score_weight`` or
``/rank`` (one user, ``rank_candidates`` distinct items) with weight
``rank_weight``: the mix a ranking page produces.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.shopstream import ensure

Request = tuple[str, dict[str, Any]]  # (path, JSON body)


def hot_key_weights(ids: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Draw probabilities for ``ids``: (occurrences in ``observed`` + 1), normalised.

    Args:
        ids: the catalogue, int64 ``(n,)``, unique.
        observed: every occurrence of an id in the log, int64 ``(m,)``; ids
            not in ``ids`` are an error (a log that does not match the catalogue).

    Returns:
        float64 ``(n,)``, non-negative, summing to 1.
    """
    ids = np.asarray(ids, dtype=np.int64)
    observed = np.asarray(observed, dtype=np.int64)
    if ids.size == 0:
        raise ValueError(
            "hot_key_weights needs at least one id; the catalogue is empty."
        )
    if np.unique(ids).size != ids.size:
        raise ValueError("hot_key_weights needs unique ids; deduplicate the catalogue.")
    order = np.argsort(ids)
    position = np.searchsorted(ids[order], observed)
    position = np.minimum(position, ids.size - 1)
    unknown = ids[order][position] != observed
    if unknown.any():
        raise ValueError(
            f"{int(unknown.sum())} logged ids are not in the catalogue "
            f"(e.g. {int(observed[unknown][0])}); pass the log of this catalogue."
        )
    counts = np.bincount(order[position], minlength=ids.size).astype(np.float64)
    weights = counts + 1.0
    return weights / weights.sum()


def weighted_draw(
    ids: np.ndarray, weights: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` ids drawn with replacement, id ``k`` with probability ``weights[k]``.

    Inverse-CDF sampling: ``u ~ U[0, 1)``, then the first ``k`` with
    ``cumsum(weights)[k] > u * total`` (a binary search, O(log n) per draw).
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != np.shape(ids) or weights.ndim != 1:
        raise ValueError(
            f"ids and weights must be 1-D of one length, got {np.shape(ids)} and "
            f"{weights.shape}."
        )
    if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero.")
    if n < 0:
        raise ValueError(f"n must be ≥ 0, got {n}.")
    # BEGIN SOLUTION m1: inverse-CDF sampling: a uniform draw scaled by the total weight, then a binary search (side='right') into the cumulative weights
    cdf = np.cumsum(weights)
    u = rng.random(n) * cdf[-1]
    index = np.searchsorted(cdf, u, side="right")
    return np.asarray(ids)[np.minimum(index, len(cdf) - 1)]
    # END SOLUTION


@dataclass(frozen=True)
class Workload:
    """Who asks for what, with ShopStream's skew (see the module doc)."""

    users: np.ndarray  # int64 catalogue of users
    user_weights: np.ndarray  # draw probability per user
    items: np.ndarray
    item_weights: np.ndarray
    score_weight: int = 4  # relative frequency of /score requests
    rank_weight: int = 1  # relative frequency of /rank requests
    rank_candidates: int = 20  # items per /rank request
    dropped_log_rows: int = 0  # impressions without a user (ShopStream's dirty rows)

    @classmethod
    def from_shopstream(
        cls, preset: str = "tiny", seed: int = 0, **mix: int
    ) -> Workload:
        """Weights from the impression log of ``preset`` (generated if missing)."""
        folder = ensure(preset, seed)
        users = pd.read_parquet(folder / "users.parquet", columns=["user_id"])
        items = pd.read_parquet(folder / "items.parquet", columns=["item_id"])
        log = pd.read_parquet(
            folder / "impressions.parquet", columns=["user_id", "item_id"]
        )
        # The log carries dirty rows on purpose (a null user_id): not traffic, so
        # they do not weigh, and their number is kept on the workload.
        clean = log.dropna(subset=["user_id", "item_id"])
        user_ids = np.unique(users["user_id"].to_numpy(np.int64))
        item_ids = np.unique(items["item_id"].to_numpy(np.int64))
        return cls(
            user_ids,
            hot_key_weights(user_ids, clean["user_id"].to_numpy(np.int64)),
            item_ids,
            hot_key_weights(item_ids, clean["item_id"].to_numpy(np.int64)),
            dropped_log_rows=len(log) - len(clean),
            **mix,
        )

    def requests(self, n: int, seed: int = 0) -> list[Request]:
        """``n`` requests in a random order, mixed by ``score_weight : rank_weight``."""
        if self.rank_candidates > len(self.items):
            raise ValueError(
                f"rank_candidates={self.rank_candidates} exceeds the {len(self.items)} "
                "items of the catalogue; lower it."
            )
        rng = np.random.default_rng(seed)
        share = self.rank_weight / (self.score_weight + self.rank_weight)
        is_rank = rng.random(n) < share
        users = weighted_draw(self.users, self.user_weights, n, rng)
        out: list[Request] = []
        for user, rank in zip(users.tolist(), is_rank.tolist(), strict=True):
            if rank:
                out.append(("/rank", {"user_id": user, "item_ids": self._slate(rng)}))
            else:
                item = int(weighted_draw(self.items, self.item_weights, 1, rng)[0])
                out.append(("/score", {"user_id": user, "item_id": item}))
        return out

    def _slate(self, rng: np.random.Generator) -> list[int]:
        """``rank_candidates`` distinct items, popular ones more often."""
        slate: list[int] = []
        seen: set[int] = set()
        while len(slate) < self.rank_candidates:
            for item in weighted_draw(
                self.items, self.item_weights, 2 * self.rank_candidates, rng
            ).tolist():
                if item not in seen and len(slate) < self.rank_candidates:
                    seen.add(item)
                    slate.append(item)
        return slate

    def write_locust_spec(
        self,
        path: Path,
        n: int = 2000,
        *,
        think_time_s: Sequence[float] = (0.0, 0.0),
        seed: int = 0,
    ) -> Path:
        """The JSON the locustfile reads: bodies per route, weights, think time."""
        requests = self.requests(n, seed)
        spec = {
            "score": [body for route, body in requests if route == "/score"],
            "rank": [body for route, body in requests if route == "/rank"],
            "score_weight": self.score_weight,
            "rank_weight": self.rank_weight,
            "think_time_s": list(think_time_s),
        }
        path.write_text(json.dumps(spec))
        return path

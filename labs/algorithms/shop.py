"""ShopStream as the inputs of this lab's problems (given, not an exercise).

    from labs.algorithms.shop import load_shop
    shop = load_shop("tiny")
    shop.delays_ms            # m1: ingestion delay of every clean impression, whole ms
    shop.event_us             # m1: event times, sorted
    shop.coview               # m2: {item: {next clicked item: times}}
    shop.devices              # m2: {user: [device, ...]}
    shop.request_intervals    # m3: {user: [(t, t + 30 min), ...]}
    shop.click_prices         # m4: {user: [price of each clicked item, in time order]}
    shop.intent_observations  # m4: {user: [clicks per request: 0, 1, 2 = two or more]}

Every field is derived from the clean impressions of a preset (rows ShopStream
corrupted on purpose are left out, and counted in ``dirty_rows``). Two are
synthetic, because ShopStream does not log them: ``devices`` (drawn with a
seed: a few devices per user, some shared by a household) and the
``FEATURE_MENU`` of m4's knapsack (illustrative costs and gains).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import pandas as pd

from common.shopstream import dirty_mask, load

SESSION_TIMEOUT_US = 30 * 60 * 1_000_000  # a request keeps a session alive 30 min
SHARED_DEVICE_SHARE = 0.08  # users who also use a device of another user
# (feature, lookup cost on the request path in µs, offline AUC gain in 1e-4):
# illustrative numbers for m4's knapsack, shaped like a real feature review.
FEATURE_MENU = [
    ("user_clicks_1h", 180, 41.0),
    ("user_impressions_1h", 160, 22.0),
    ("user_clicks_24h", 220, 35.0),
    ("user_category_ctr_7d", 410, 58.0),
    ("item_ctr_1h", 150, 30.0),
    ("item_ctr_24h", 170, 33.0),
    ("item_price_rank", 60, 9.0),
    ("item_age_days", 40, 6.0),
    ("user_item_affinity", 650, 80.0),
    ("session_depth", 30, 7.0),
    ("user_embedding_dot", 900, 95.0),
    ("trending_score", 240, 18.0),
    ("seller_rating", 90, 8.0),
    ("geo_distance", 120, 5.0),
]


@dataclass
class Shop:
    """The clean impressions of one preset and the inputs built from them."""

    preset: str
    impressions: pd.DataFrame  # clean rows, sorted by event time
    prices: np.ndarray  # price of each item id
    dirty_rows: int
    seed: int = 0

    @cached_property
    def event_us(self) -> list[int]:
        """Event times in µs since the epoch, ascending."""
        return self.impressions["event_us"].tolist()

    @cached_property
    def delays_ms(self) -> list[int]:
        """Ingestion delay (created - event) of every impression, in whole ms."""
        delay = self.impressions["created_us"] - self.impressions["event_us"]
        return (delay // 1_000).tolist()

    @cached_property
    def clicks(self) -> pd.DataFrame:
        """Clicked impressions by user, then time."""
        clicked = self.impressions[self.impressions["clicked"] == 1]
        return clicked.sort_values(["user_id", "event_us"], kind="stable")

    @cached_property
    def coview(self) -> dict[int, dict[int, int]]:
        """``{a: {b: n}}``: n times a user clicked ``b`` right after ``a``, within
        one session (30 minutes). Every item of the catalogue is a key."""
        graph: dict[int, dict[int, int]] = {i: {} for i in range(len(self.prices))}
        c = self.clicks
        user, item, t = (
            c[col].to_numpy() for col in ("user_id", "item_id", "event_us")
        )
        same = (user[1:] == user[:-1]) & (t[1:] - t[:-1] <= SESSION_TIMEOUT_US)
        for a, b in zip(item[:-1][same].tolist(), item[1:][same].tolist(), strict=True):
            if a != b:
                graph[a][b] = graph[a].get(b, 0) + 1
        return graph

    @cached_property
    def coview_neighbours(self) -> dict[int, list[int]]:
        """The co-view graph without direction or counts (BFS)."""
        out: dict[int, set[int]] = {a: set() for a in self.coview}
        for a, nexts in self.coview.items():
            for b in nexts:
                out[a].add(b)
                out[b].add(a)
        return {a: sorted(bs) for a, bs in out.items()}

    @cached_property
    def coview_edges(self) -> dict[int, list[tuple[int, float]]]:
        """Weighted co-view edges for Dijkstra: ``-log P(next click is b | a)``,
        so the shortest path is the likeliest chain of clicks."""
        edges: dict[int, list[tuple[int, float]]] = {}
        for a, nexts in self.coview.items():
            total = sum(nexts.values())
            edges[a] = [(b, float(-np.log(n / total))) for b, n in nexts.items()]
        return edges

    @cached_property
    def devices(self) -> dict[int, list[str]]:
        """Synthetic: each active user's devices; some users share a household's."""
        rng = np.random.default_rng([self.seed, 2])
        users = sorted(set(self.impressions["user_id"].tolist()))
        out: dict[int, list[str]] = {}
        for user in users:
            own = [f"d{user}-{k}" for k in range(1 + int(rng.poisson(0.6)))]
            if out and rng.random() < SHARED_DEVICE_SHARE:
                other = users[int(rng.integers(len(out)))]  # an earlier user
                own.append(out[other][0])
            out[user] = own
        return out

    @cached_property
    def requests(self) -> pd.DataFrame:
        """One row per request: user, event time and clicks in its slate."""
        return (
            self.impressions.groupby("request_id", sort=False)
            .agg(
                user_id=("user_id", "first"),
                event_us=("event_us", "min"),
                clicks=("clicked", "sum"),
            )
            .sort_values(["user_id", "event_us"], kind="stable")
        )

    @cached_property
    def request_intervals(self) -> dict[int, list[tuple[int, int]]]:
        """Per user, ``[t, t + 30 min)`` for each request, in time order."""
        out: dict[int, list[tuple[int, int]]] = {}
        r = self.requests
        for user, t in zip(r["user_id"].tolist(), r["event_us"].tolist(), strict=True):
            out.setdefault(user, []).append((t, t + SESSION_TIMEOUT_US))
        return out

    @cached_property
    def intent_observations(self) -> dict[int, list[int]]:
        """Per user, each request's clicks capped at 2 (0, 1, 2 = two or more)."""
        out: dict[int, list[int]] = {}
        r = self.requests
        clicks = np.minimum(r["clicks"].to_numpy(), 2).tolist()
        for user, c in zip(r["user_id"].tolist(), clicks, strict=True):
            out.setdefault(user, []).append(int(c))
        return out

    @cached_property
    def click_prices(self) -> dict[int, list[float]]:
        """Per user, the price of each clicked item, in time order."""
        out: dict[int, list[float]] = {}
        c = self.clicks
        for user, item in zip(
            c["user_id"].tolist(), c["item_id"].tolist(), strict=True
        ):
            out.setdefault(user, []).append(float(self.prices[item]))
        return out


@cache
def load_shop(preset: str = "tiny", seed: int = 0) -> Shop:
    """The inputs of ShopStream ``preset`` (loaded once per process)."""
    ds = load(preset, seed=seed)
    raw = ds.impressions
    dirty = dirty_mask(raw)
    clean = raw[~dirty]
    frame = pd.DataFrame(
        {
            "request_id": clean["request_id"].to_numpy(),
            "user_id": clean["user_id"].astype("int64").to_numpy(),
            "item_id": clean["item_id"].to_numpy(),
            "event_us": clean["event_timestamp"].dt.as_unit("us").array.asi8,
            "created_us": clean["created_timestamp"].dt.as_unit("us").array.asi8,
            "clicked": clean["clicked"].astype("int64").to_numpy(),
        }
    ).sort_values("event_us", kind="stable", ignore_index=True)
    items = ds.items.sort_values("item_id")
    if not (items["item_id"].to_numpy() == np.arange(len(items))).all():
        raise ValueError("expected item ids 0..n-1; regenerate the ShopStream data.")
    return Shop(preset, frame, items["price"].to_numpy(), int(dirty.sum()), seed)

"""Generate ShopStream: a week of shop traffic with clicks, from a seed, in seconds.

    from common.shopstream import generate, get_config
    ds = generate(get_config("tiny", seed=0))
    ds.impressions.head()

The unit of traffic is a **session**. Users open sessions on a diurnal rhythm
(peak at 20:00 UTC, trough at 08:00); user activity is lognormal, so a few
users are "hot" (the top 1% of users make 13-17% of impressions). A session
makes a geometric number of ranking **requests** (mean 4) about a minute
apart; each request shows a **slate** of 10 distinct items, 70% of slots drawn
by Zipf-like popularity (the top 1% of items get 18-32% of impressions) and
30% from the user's preferred categories. Every slot is one impression whose
click is drawn from

    logit p = base + user_bias[u] + item_quality[i, t] + affinity[u, i]
              + session_intent[s] + position_effect[pos]

Each latent exists to make one kind of feature carry signal (defaults shown):

- ``user_bias`` ~ N(0, 0.3): a user's long-run CTR is predictive.
- ``item_quality[i, t]`` = static N(0, 0.5) + a daily AR(1) drift
  (``d' = 0.8 d + N(0, 0.3)``, interpolated between midnights, spread
  settling at 0.5) + trending bursts (+1.0 for 2-8 h; 2% of items a day).
  An item's CTR over the last day predicts its next click beyond the item id,
  and "latest value" features (taken at the end of the log) differ from
  point-in-time ones.
- ``affinity`` = +0.5 when the item is in one of the user's 2 preferred
  categories: user x category crosses are predictive.
- ``session_intent`` ~ N(0, 1.1) per session: a user's clicks in the last hour
  predict the next click (a real windowed signal, invisible to daily features).
- ``position_effect`` = -0.1 log2(1 + pos): slot 0 gets ~1.35x the clicks of
  slot 9.
- ``base`` = -3.8, which puts the CTR near 4.5%.

Ingestion: ``created_timestamp = event_timestamp + delay``; the delay is
1 s + Exp(19 s) for most rows (median 15 s), but ``late_share`` (5%) of rows
arrive 1-6 h late, so a query "as of t" must filter on ``created_timestamp
<= t``, not only on ``event_timestamp``. ``dirty_share`` (0.1%) extra rows are
corrupted copies of clean rows, one defect each (see ``DIRTY_KINDS`` and
:func:`dirty_mask`); dropping them recovers the clean rows exactly.
``p_click`` is the hidden ground truth: never use it as a feature.

Measured on the clean rows (tiny seeds 0-4 / small seeds 0-2 / large seed 0;
``summarize`` recomputes them, the tests assert looser bounds):

- CTR 4.3-4.9% / 4.2-4.3% / 4.4%; late share 5.0% +- 0.3 pt everywhere.
- Windowed user signal: the CTR of impressions whose user had >= 1 click in
  the previous hour (counting clicks with created <= t) is 1.8-2.0x / 1.9x /
  1.9x the CTR of those with none (never below 1.58x over tiny seeds 0-24).
- Point-in-time item CTR over the previous 24 h (created <= t; rows with >= 20
  such prior impressions): AUC 0.58-0.62 / 0.62-0.63 / 0.63 against the click.
- Leakage: the same item CTR over the whole log (future and the row itself
  included) scores AUC 0.65-0.69 / 0.66-0.67 / 0.66 on the same rows, higher
  than any honest feature of the same kind.
- Bayes-optimal AUC (scoring by ``p_click``): 0.80-0.82 / 0.81-0.82 / 0.82;
  :func:`~common.shopstream.truth.expected_bayes_auc` agrees within 0.015.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from common.shopstream.config import ShopStreamConfig
from common.shopstream.population import (
    US,
    Floats,
    Ints,
    Items,
    Users,
    draw_items,
    draw_users,
    item_quality_at,
    start_us,
    utc_us,
)
from common.shopstream.traffic import Traffic, draw_slates, draw_traffic
from common.shopstream.truth import bayes_optimal_auc

# Bump when the generative model changes, so cached datasets are regenerated.
GENERATOR_VERSION = 1

# One defect per dirty row; a validator drops rows with any of them.
DIRTY_KINDS = (
    "null_user",  # user_id is null
    "negative_position",  # position < 0
    "invalid_click",  # clicked not in {0, 1} (it is 2)
    "created_before_event",  # created_timestamp < event_timestamp
    "duplicate_id",  # a redelivered impression_id; the earliest created is real
)


@dataclass
class ShopStream:
    """One generated dataset: three tables and a description of them.

    Attributes:
        users: ``user_id``, ``country``, ``signup_timestamp``, ``segment``.
        items: ``item_id``, ``category_id``, ``price``, ``created_timestamp``.
        impressions: the raw log sorted by ``created_timestamp`` (dirty rows
            included): ``impression_id``, ``request_id``, ``user_id`` (Int64),
            ``item_id``, ``position``, ``event_timestamp``,
            ``created_timestamp``, ``clicked`` and the hidden ``p_click``.
        meta: ``version``, ``config`` (as a dict), ``counts`` and ``rates``.
    """

    users: pd.DataFrame
    items: pd.DataFrame
    impressions: pd.DataFrame
    meta: dict[str, Any]

    @property
    def config(self) -> ShopStreamConfig:
        """The config this dataset was generated from."""
        return ShopStreamConfig.from_dict(self.meta["config"])


def click_probability(
    config: ShopStreamConfig,
    users: Users,
    items: Items,
    traffic: Traffic,
    slate: Ints,
) -> tuple[Ints, npt.NDArray[np.int32], Ints, Floats]:
    """Apply the click model to every slot of every slate.

    Returns:
        ``(request, position, item, p_click)`` per impression, in request order.
    """
    n_requests, k = slate.shape
    request = np.repeat(np.arange(n_requests, dtype=np.int64), k)
    position = np.tile(np.arange(k, dtype=np.int32), n_requests)
    item = slate.ravel()
    session = traffic.request_session[request]
    user = traffic.session_user[session]
    t = traffic.request_time[request]
    in_preferred = (users.preferred[user] == items.category[item][:, None]).any(axis=1)
    position_effect = -config.position_decay * np.log2(1.0 + np.arange(k))
    logit = (
        config.base_logit
        + users.bias[user]
        + item_quality_at(items, item, t, config.trend_boost)
        + config.affinity_boost * in_preferred
        + traffic.session_intent[session]
        + position_effect[position]
    )
    return request, position, item, 1.0 / (1.0 + np.exp(-logit))


def draw_delays(config: ShopStreamConfig, rng: np.random.Generator, n: int) -> Floats:
    """Ingestion delays in seconds: mostly seconds, ``late_share`` hours late."""
    on_time = 1.0 + rng.exponential(config.delay_mean_s - 1.0, n)
    late = rng.random(n) < config.late_share
    late_delay = rng.uniform(*config.late_delay_hours, n) * 3600.0
    return np.where(late, late_delay, on_time)


def corrupt(
    config: ShopStreamConfig, rng: np.random.Generator, clean: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, int]]:
    """Make ``dirty_share`` corrupted copies of distinct clean rows.

    Each copy carries exactly one defect from ``DIRTY_KINDS`` (the kinds take
    turns, so even a small log has some of each). Copies get fresh
    impression ids, except ``duplicate_id`` copies: these are redeliveries of
    the source row, identical but for a later ``created_timestamp``.

    Returns:
        The dirty rows (same columns as ``clean``) and their count per kind.
    """
    n = len(clean["impression_id"])
    n_dirty = round(config.dirty_share * n)
    src = rng.choice(n, size=n_dirty, replace=False)
    kind = rng.permutation(np.arange(n_dirty) % len(DIRTY_KINDS))
    rows = {name: values[src].copy() for name, values in clean.items()}
    rows["user_null"] = kind == DIRTY_KINDS.index("null_user")
    neg = kind == DIRTY_KINDS.index("negative_position")
    rows["position"][neg] = -1 - rows["position"][neg]
    rows["clicked"][kind == DIRTY_KINDS.index("invalid_click")] = 2
    before = kind == DIRTY_KINDS.index("created_before_event")
    back = (rng.uniform(1.0, 3600.0, int(before.sum())) * US).astype(np.int64)
    rows["created"][before] = rows["event"][before] - back
    dup = kind == DIRTY_KINDS.index("duplicate_id")
    again = (rng.uniform(1.0, 600.0, int(dup.sum())) * US).astype(np.int64)
    rows["created"][dup] += again
    fresh = np.arange(n, n + n_dirty, dtype=np.int64)
    rows["impression_id"] = np.where(dup, rows["impression_id"], fresh)
    counts = {name: int((kind == i).sum()) for i, name in enumerate(DIRTY_KINDS)}
    return rows, counts


def dirty_mask(impressions: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Flag the corrupted rows of a raw impression log (see ``DIRTY_KINDS``).

    A row is dirty when its ``user_id`` is null, its ``position`` negative,
    ``clicked`` not 0/1, ``created_timestamp`` before ``event_timestamp``, or
    it repeats an ``impression_id`` seen with an earlier ``created_timestamp``.
    ``impressions[~dirty_mask(impressions)]`` are exactly the clean rows.
    """
    bad = (
        impressions["user_id"].isna()
        | (impressions["position"] < 0)
        | ~impressions["clicked"].isin([0, 1])
        | (impressions["created_timestamp"] < impressions["event_timestamp"])
    ).to_numpy()
    created = impressions["created_timestamp"].dt.as_unit("us").array.asi8
    by_created = np.argsort(created, kind="stable")
    ids = impressions["impression_id"].to_numpy()[by_created]
    repeat = np.zeros(len(ids), dtype=bool)
    repeat[by_created] = pd.Series(ids).duplicated(keep="first").to_numpy()
    return bad | repeat


def generate(config: ShopStreamConfig) -> ShopStream:
    """Generate a ShopStream dataset; the same config gives identical frames.

    Each component (users, items, traffic, slates, clicks, delays, dirt) draws
    from its own child of ``SeedSequence(config.seed)``, so e.g. a different
    ``dirty_share`` leaves every clean row unchanged.

    Args:
        config: the knobs, usually ``get_config(preset, seed)``.

    Returns:
        The dataset, its impression log sorted by ``created_timestamp``.
    """
    seeds = np.random.SeedSequence(config.seed).spawn(7)
    rng_users, rng_items, rng_traffic, rng_slates, rng_clicks, rng_delays, rng_dirty = (
        np.random.default_rng(s) for s in seeds
    )
    users = draw_users(config, rng_users)
    items = draw_items(config, rng_items)
    traffic = draw_traffic(config, rng_traffic, users)
    request_user = traffic.session_user[traffic.request_session]
    slate = draw_slates(config, rng_slates, users, items, request_user)
    request, position, item, p_click = click_probability(
        config, users, items, traffic, slate
    )
    clicked = (rng_clicks.random(len(p_click)) < p_click).astype(np.int8)
    delay = draw_delays(config, rng_delays, len(p_click))
    event = start_us(config) + np.round(traffic.request_time[request] * US).astype(
        np.int64
    )
    created = event + np.maximum(np.round(delay * US).astype(np.int64), 1)
    n = len(p_click)
    clean: dict[str, npt.NDArray[Any]] = {
        "impression_id": np.arange(n, dtype=np.int64),  # in event order
        "request_id": request,
        "user_id": request_user[request],
        "item_id": item,
        "position": position,
        "event": event,
        "created": created,
        "clicked": clicked,
        "p_click": p_click,
    }
    dirty, dirty_counts = corrupt(config, rng_dirty, clean)
    clean["user_null"] = np.zeros(n, dtype=bool)
    # Ingestion order: by created, ties by event order (stable sort). Each row
    # is scattered straight to its slot, which saves a full copy per column.
    order = np.argsort(np.concatenate([created, dirty["created"]]), kind="stable")
    slot = np.empty_like(order)
    slot[order] = np.arange(len(order))
    log: dict[str, Any] = {}
    for name, values in clean.items():
        log[name] = np.empty(len(order), dtype=values.dtype)
        log[name][slot[:n]] = values
        log[name][slot[n:]] = dirty[name]
    impressions = pd.DataFrame(
        {
            "impression_id": log["impression_id"],
            "request_id": log["request_id"],
            "user_id": pd.arrays.IntegerArray(log["user_id"], log["user_null"]),
            "item_id": log["item_id"],
            "position": log["position"],
            "event_timestamp": utc_us(log["event"]),
            "created_timestamp": utc_us(log["created"]),
            "clicked": log["clicked"],
            "p_click": log["p_click"],
        },
        copy=False,  # the arrays are ours: skip pandas' consolidating copy
    )
    late = delay >= config.late_delay_hours[0] * 3600.0
    meta: dict[str, Any] = {
        "version": GENERATOR_VERSION,
        "config": config.to_dict(),
        "counts": {
            "users": config.n_users,
            "items": config.n_items,
            "sessions": len(traffic.session_user),
            "requests": len(slate),
            "impressions": len(impressions),
            "clean_impressions": n,
            "dirty_impressions": len(impressions) - n,
            "dirty_by_kind": dirty_counts,
            "clicks": int(clicked.sum()),
        },
        "rates": {
            "ctr": float(clicked.mean()),
            "late_share": float(late.mean()),
            "dirty_share": (len(impressions) - n) / n,
            "bayes_auc": bayes_optimal_auc(clicked, p_click),
        },
    }
    return ShopStream(users.table, items.table, impressions, meta)

"""Who and what is in ShopStream: users, items and their hidden traits.

Each function draws one component from its own random generator, so changing
one component's knobs never reshuffles another's draws. The hidden traits
(user bias, preferred categories, item quality over time) drive the click
model in ``generate.py`` and never appear in the published tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from common.shopstream.config import ShopStreamConfig

DAY_S = 86_400.0
US = 1_000_000  # microseconds per second: every timestamp is int64 microseconds

COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR", "JP", "CA", "ES", "AU")
COUNTRY_WEIGHTS = (0.30, 0.12, 0.11, 0.09, 0.09, 0.08, 0.07, 0.06, 0.05, 0.03)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def start_us(config: ShopStreamConfig) -> int:
    """Microseconds since the epoch of ``config.start`` 00:00 UTC."""
    midnight = dt.datetime.combine(config.start, dt.time(), tzinfo=dt.timezone.utc)
    return int(midnight.timestamp()) * US


def utc_us(values: npt.NDArray[np.int64]) -> pd.Series:
    """Epoch microseconds as a ``datetime64[us, UTC]`` series."""
    return pd.Series(values.astype("datetime64[us]")).dt.tz_localize("UTC")


@dataclass(frozen=True)
class Users:
    """The users table and the hidden per-user traits, indexed by user_id."""

    table: pd.DataFrame
    activity: Floats  # relative session rate, mean 1, heavy-tailed
    bias: Floats  # additive click logit
    preferred: Ints  # (n_users, n_preferred) category ids


@dataclass(frozen=True)
class Items:
    """The items table and the hidden per-item traits, indexed by item_id."""

    table: pd.DataFrame
    category: Ints  # (n_items,)
    popularity: Floats  # exposure probability, sums to 1 (Zipf-like)
    quality: Floats  # static logit part
    drift: Floats  # (n_items, n_days + 1) AR(1) walk, value at each midnight
    trend_start: Floats  # (n_items, n_days) burst start, seconds; inf = none
    trend_end: Floats  # (n_items, n_days) burst end, seconds


def draw_users(config: ShopStreamConfig, rng: np.random.Generator) -> Users:
    """Draw users: activity, click bias, preferred categories and the table."""
    n, n_cat = config.n_users, config.n_categories
    activity = rng.lognormal(0.0, config.user_activity_sigma, n)
    activity /= activity.mean()  # keeps sessions_per_user_day the mean rate
    bias = rng.normal(0.0, config.user_bias_sd, n)
    # Preferred categories: distinct per user, popular categories more often
    # (Gumbel top-k is sampling without replacement, vectorised).
    log_w = -0.7 * np.log1p(np.arange(n_cat))
    keys = log_w + rng.gumbel(size=(n, n_cat))
    preferred = np.argsort(-keys, axis=1)[:, : config.n_preferred].astype(np.int64)
    country = rng.choice(np.array(COUNTRIES), size=n, p=COUNTRY_WEIGHTS)
    signup_s = rng.uniform(DAY_S, 730 * DAY_S, n)  # up to two years before start
    # Segment is what a CRM would know: it tracks activity, so it is a weak feature.
    cut_light, cut_heavy = np.quantile(activity, [0.5, 0.9])
    segment = np.where(
        activity >= cut_heavy, "heavy", np.where(activity < cut_light, "light", "core")
    )
    table = pd.DataFrame(
        {
            "user_id": np.arange(n, dtype=np.int64),
            "country": pd.array(country, dtype="string"),
            "signup_timestamp": utc_us(
                start_us(config) - (signup_s * US).astype(np.int64)
            ),
            "segment": pd.array(segment, dtype="string"),
        }
    )
    return Users(table, activity, bias, preferred)


def draw_items(config: ShopStreamConfig, rng: np.random.Generator) -> Items:
    """Draw items: category, exposure, quality path over time and the table."""
    n, n_cat, n_days = config.n_items, config.n_categories, config.n_days
    cat_w = rng.dirichlet(np.full(n_cat, 2.0))  # categories of uneven size
    category = rng.choice(n_cat, size=n, p=cat_w).astype(np.int64)
    category[rng.permutation(n)[:n_cat]] = np.arange(n_cat)  # none left empty
    rank = rng.permutation(n)
    popularity = np.power(rank + 1.0, -config.item_zipf_a, dtype=np.float64)
    popularity /= popularity.sum()
    quality = rng.normal(0.0, config.item_quality_sd, n)
    # AR(1) rather than a pure random walk: quality moves day to day but its
    # spread settles, so long presets do not grow ever more extreme items.
    steps = rng.normal(0.0, config.item_drift_sd, (n, n_days))
    drift = np.zeros((n, n_days + 1))
    for day in range(n_days):  # a loop over days, vectorised over items
        drift[:, day + 1] = config.item_drift_keep * drift[:, day] + steps[:, day]
    has_trend = rng.random((n, n_days)) < config.trend_prob
    day0 = np.arange(n_days) * DAY_S
    starts = day0 + rng.uniform(0.0, DAY_S, (n, n_days))
    hours = rng.uniform(*config.trend_hours, (n, n_days))
    trend_start = np.where(has_trend, starts, np.inf)
    trend_end = np.where(has_trend, starts + hours * 3600.0, np.inf)
    log_price_mean = rng.normal(3.0, 0.8, n_cat)  # a category has a price level
    price = np.round(np.exp(rng.normal(log_price_mean[category], 0.5)), 2)
    created_s = rng.uniform(DAY_S, 365 * DAY_S, n)  # listed before the window
    table = pd.DataFrame(
        {
            "item_id": np.arange(n, dtype=np.int64),
            "category_id": category.astype(np.int32),
            "price": price,
            "created_timestamp": utc_us(
                start_us(config) - (created_s * US).astype(np.int64)
            ),
        }
    )
    return Items(table, category, popularity, quality, drift, trend_start, trend_end)


def item_quality_at(items: Items, item: Ints, t_s: Floats, boost: float) -> Floats:
    """Item quality logit at time ``t_s`` (seconds since start), per impression.

    Static quality, plus the AR(1) drift interpolated linearly between
    midnights (so quality moves smoothly within a day), plus ``boost`` while
    the item is in a trending burst (a burst lasts < 24 h, so only the bursts
    that started today or yesterday can cover ``t_s``).
    """
    n_days = items.trend_start.shape[1]
    pos = t_s / DAY_S
    day = np.minimum(pos.astype(np.int64), n_days - 1)
    frac = pos - day
    # Flat indices into the (n_items, n_days[+1]) arrays: 1-d takes are much
    # faster than 2-d fancy indexing on millions of rows.
    at = item * (n_days + 1) + day
    drift = items.drift.ravel()
    walk = drift[at] * (1.0 - frac) + drift[at + 1] * frac
    starts, ends = items.trend_start.ravel(), items.trend_end.ravel()
    today = item * n_days + day
    yesterday = today - (day > 0)  # on day 0, just today again
    trending = (starts[today] <= t_s) & (t_s < ends[today])
    trending |= (starts[yesterday] <= t_s) & (t_s < ends[yesterday])
    return items.quality[item] + walk + boost * trending

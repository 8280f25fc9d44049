"""How ShopStream traffic happens: sessions, requests and the slates they show.

Sessions arrive on a diurnal rhythm from users with heavy-tailed activity;
each makes a geometric number of requests about a minute apart; each request
shows ``slate_size`` distinct items, mostly by Zipf-like popularity and partly
from the user's preferred categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from common.shopstream.config import ShopStreamConfig
from common.shopstream.population import DAY_S, Floats, Ints, Items, Users


@dataclass(frozen=True)
class Traffic:
    """Sessions and their requests; requests sorted by time (= request_id)."""

    session_user: Ints
    session_intent: Floats
    request_session: Ints
    request_time: Floats  # seconds since start


def _diurnal_seconds(
    config: ShopStreamConfig, rng: np.random.Generator, n: int
) -> Floats:
    """Draw ``n`` times of day (seconds) from a cosine rhythm, per-minute grid."""
    hour = (np.arange(1440) + 0.5) / 60.0
    phase = 2.0 * np.pi * (hour - config.diurnal_peak_hour) / 24.0
    cdf = np.cumsum(1.0 + config.diurnal_amplitude * np.cos(phase))
    minute = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    return (minute + rng.random(n)) * 60.0


def draw_traffic(
    config: ShopStreamConfig, rng: np.random.Generator, users: Users
) -> Traffic:
    """Draw sessions (who, when, intent) and their requests about a minute apart."""
    n_sessions = int(
        rng.poisson(config.n_users * config.n_days * config.sessions_per_user_day)
    )
    user = rng.choice(
        config.n_users, size=n_sessions, p=users.activity / users.activity.sum()
    )
    day = rng.integers(0, config.n_days, n_sessions)
    start = day * DAY_S + _diurnal_seconds(config, rng, n_sessions)
    intent = rng.normal(0.0, config.session_intent_sd, n_sessions)
    n_req = rng.geometric(1.0 / config.requests_per_session, n_sessions)
    session = np.repeat(np.arange(n_sessions), n_req)
    gaps = rng.exponential(config.request_gap_s, len(session))
    first = np.cumsum(n_req) - n_req
    gaps[first] = 0.0
    elapsed = np.cumsum(gaps)
    elapsed -= elapsed[first][session]  # time since the session's first request
    t = start[session] + elapsed
    keep = t < config.n_days * DAY_S  # sessions running past the end are cut
    session, t = session[keep], t[keep]
    order = np.lexsort((session, t))
    return Traffic(user, intent, session[order], t[order])


def _sample_popular(rng: np.random.Generator, cum: Floats, size: Any) -> Ints:
    """Draw item ids with probability proportional to popularity (``cum`` = cdf)."""
    idx = np.searchsorted(cum, rng.random(size) * cum[-1], side="right")
    return np.minimum(idx, len(cum) - 1).astype(np.int64)


def _sample_in_category(rng: np.random.Generator, items: Items, cat: Ints) -> Ints:
    """Draw one item per entry of ``cat``, by popularity within that category."""
    by_cat = np.argsort(items.category, kind="stable")
    cum = np.cumsum(items.popularity[by_cat])
    end = np.cumsum(np.bincount(items.category, minlength=cat.max(initial=0) + 1))
    begin = end - np.bincount(items.category, minlength=len(end))
    lo = np.where(begin > 0, cum[np.maximum(begin - 1, 0)], 0.0)
    hi = cum[end - 1]
    u = lo[cat] + rng.random(len(cat)) * (hi[cat] - lo[cat])
    idx = np.clip(np.searchsorted(cum, u, side="right"), begin[cat], end[cat] - 1)
    return by_cat[idx].astype(np.int64)


def _dedupe_slates(rng: np.random.Generator, slate: Ints, cum: Floats) -> None:
    """Redraw repeated items within each slate (in place) until all are distinct."""
    rows = np.arange(len(slate))
    for _ in range(1_000):
        sub = slate[rows]
        order = np.argsort(sub, axis=1, kind="stable")  # keeps the first copy
        ordered = np.take_along_axis(sub, order, axis=1)
        dup_sorted = np.zeros(sub.shape, dtype=bool)
        dup_sorted[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
        dup = np.zeros_like(dup_sorted)
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        has_dup = dup.any(axis=1)
        if not has_dup.any():
            return
        rows, dup = rows[has_dup], dup[has_dup]
        r, c = np.nonzero(dup)
        slate[rows[r], c] = _sample_popular(rng, cum, len(r))
    raise RuntimeError(
        "Could not fill slates with distinct items; lower slate_size or "
        "item_zipf_a, or raise n_items."
    )


def draw_slates(
    config: ShopStreamConfig,
    rng: np.random.Generator,
    users: Users,
    items: Items,
    request_user: Ints,
) -> Ints:
    """Draw the slate of each request: (n_requests, slate_size) distinct item ids."""
    cum = np.cumsum(items.popularity)
    slate = _sample_popular(rng, cum, (len(request_user), config.slate_size))
    personal = rng.random(slate.shape) < config.personalised_share
    r, c = np.nonzero(personal)
    which = rng.integers(0, config.n_preferred, len(r))
    slate[r, c] = _sample_in_category(
        rng, items, users.preferred[request_user[r], which]
    )
    _dedupe_slates(rng, slate, cum)
    return slate

"""The knobs of the ShopStream generator, and the three size presets.

Every field of :class:`ShopStreamConfig` changes the data, so the whole config
is written to ``meta.json`` and a cached dataset is regenerated when it differs.

    >>> from common.shopstream import get_config
    >>> get_config("tiny", seed=3).n_days
    3
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ShopStreamConfig:
    """All parameters of one synthetic ShopStream dataset (see ``generate.py``)."""

    # --- size and time range --------------------------------------------------
    seed: int = 0  # root of every random draw; one SeedSequence child per component
    n_users: int = 1_000  # users in the users table (some never show up)
    n_items: int = 1_000  # items in the catalogue
    n_categories: int = 12  # item categories; users prefer a few of them
    n_days: int = 3  # days of traffic, starting at `start` 00:00 UTC
    start: dt.date = dt.date(2024, 3, 4)  # first day (UTC); a Monday
    # --- traffic ----------------------------------------------------------------
    sessions_per_user_day: float = 0.4  # mean sessions per user per day
    user_activity_sigma: float = 1.2  # lognormal sigma of user activity: hot users
    requests_per_session: float = 4.0  # mean ranking requests per session (geometric)
    request_gap_s: float = 60.0  # mean seconds between requests of a session
    diurnal_amplitude: float = 0.6  # 0 = flat day; 0.6 = evening peak 4x the trough
    diurnal_peak_hour: float = 20.0  # UTC hour of peak traffic
    slate_size: int = 10  # items shown per request (positions 0..slate_size-1)
    item_zipf_a: float = 0.8  # exposure weight of the k-th most popular item ~ k^-a
    personalised_share: float = 0.3  # share of slots filled from preferred categories
    # --- click model: logit p = base + user + item(t) + affinity + intent + pos ---
    base_logit: float = -3.8  # sets the overall CTR (about 4.5%, see generate.py)
    user_bias_sd: float = 0.3  # sd of the per-user click propensity
    item_quality_sd: float = 0.5  # sd of the static part of item quality
    item_drift_sd: float = 0.3  # sd of the per-day step of the quality drift
    item_drift_keep: float = 0.8  # AR(1) share of yesterday's drift kept (sd -> 0.5)
    trend_prob: float = 0.02  # chance an item starts a trending burst on a day
    trend_hours: tuple[float, float] = (2.0, 8.0)  # burst duration range, hours
    trend_boost: float = 1.0  # logit added while an item is trending
    n_preferred: int = 2  # preferred categories per user
    affinity_boost: float = 0.5  # logit added when the item is in one of them
    session_intent_sd: float = 1.1  # sd of the per-session intent (windowed signal)
    position_decay: float = 0.1  # position effect is -decay * log2(1 + position)
    # --- ingestion: late arrivals and corrupted rows -------------------------------
    delay_mean_s: float = 20.0  # mean ingestion delay of on-time rows (1 s + exp)
    late_share: float = 0.05  # share of clean rows that arrive hours late
    late_delay_hours: tuple[float, float] = (1.0, 6.0)  # late delay range, hours
    dirty_share: float = 0.001  # corrupted copies added, as a share of clean rows

    def __post_init__(self) -> None:
        """Reject values the generator cannot honour, naming the field."""
        for name in ("n_users", "n_items", "n_categories", "n_days", "slate_size"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be at least 1, got {getattr(self, name)}"
                )
        for name in ("personalised_share", "trend_prob", "late_share", "dirty_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"{name} is a share and must be in [0, 1], got {value}"
                )
        if self.slate_size > self.n_items:
            raise ValueError(
                f"slate_size ({self.slate_size}) cannot exceed n_items "
                f"({self.n_items}): a slate shows distinct items."
            )
        if self.n_categories > self.n_items:
            raise ValueError(
                f"n_categories ({self.n_categories}) cannot exceed n_items "
                f"({self.n_items}): every category holds at least one item."
            )
        if not 1 <= self.n_preferred <= self.n_categories:
            raise ValueError(
                f"n_preferred must be in [1, n_categories={self.n_categories}], "
                f"got {self.n_preferred}"
            )
        if not 0.0 <= self.item_drift_keep < 1.0:
            raise ValueError(
                f"item_drift_keep must be in [0, 1) for the drift to settle, "
                f"got {self.item_drift_keep}"
            )
        if self.delay_mean_s <= 1.0:
            raise ValueError(
                f"delay_mean_s must exceed the 1 s minimum delay, got {self.delay_mean_s}"
            )
        if self.requests_per_session < 1:
            raise ValueError(
                f"requests_per_session is a mean of at least 1, "
                f"got {self.requests_per_session}"
            )
        lo, hi = self.trend_hours
        if not 0 < lo <= hi <= 24:
            raise ValueError(
                f"trend_hours must satisfy 0 < lo <= hi <= 24, got {lo, hi}"
            )
        lo, hi = self.late_delay_hours
        if not 0 < lo <= hi <= 24:
            # A 24 h cap keeps late rows inside the one-day windows the labs use.
            raise ValueError(
                f"late_delay_hours must satisfy 0 < lo <= hi <= 24, got {lo, hi}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the config as JSON-ready values (dates as ISO strings, lists)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, dt.date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShopStreamConfig:
        """Inverse of :meth:`to_dict`."""
        kwargs = dict(d)
        kwargs["start"] = dt.date.fromisoformat(kwargs["start"])
        for name in ("trend_hours", "late_delay_hours"):
            kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)


PRESETS: dict[str, ShopStreamConfig] = {
    # Tests: 44k-52k impressions over 3 days, generated in a tenth of a second.
    "tiny": ShopStreamConfig(),
    # The demo: ~1.35M impressions over a week, generated and written in ~3 s.
    "small": ShopStreamConfig(n_users=12_000, n_items=5_000, n_categories=20, n_days=7),
    # Benchmarks: ~13.5M impressions over two weeks (~30 s, 3.8 GB peak memory).
    "large": ShopStreamConfig(
        n_users=60_000, n_items=50_000, n_categories=40, n_days=14
    ),
}


def get_config(preset: str, seed: int = 0) -> ShopStreamConfig:
    """Return the config of a named preset with the given seed.

    Args:
        preset: one of ``PRESETS`` (``tiny``, ``small``, ``large``).
        seed: root seed; different seeds give independent datasets.

    Raises:
        ValueError: if ``preset`` is not a known preset name.
    """
    if preset not in PRESETS:
        raise ValueError(
            f"Unknown ShopStream preset {preset!r}; "
            f"choose one of {', '.join(sorted(PRESETS))}."
        )
    return dataclasses.replace(PRESETS[preset], seed=seed)

"""A ShopStream A/B test log: two ranker versions' impressions (given scaffolding).

    from common.shopstream import load
    from labs.experiments import ABDesign, build_ab_log
    log = build_ab_log(load("small"), ABDesign(lift=0.04, novelty=0.15))
    log.impressions.groupby("arm")["clicked"].mean()

ShopStream's click log was served by one ranker (model v1). This module
turns it into an experiment between v1 (control) and v2 (treatment):

1. **Assignment by hash.** Each user goes to treatment when
   hash(salt, user_id) / 2^64 < treatment_share (splitmix64). The same user
   always lands in the same arm, the split needs no state, and a new salt per
   experiment makes assignments independent across experiments.
2. **The treatment's clicks.** Control impressions keep their logged clicks.
   A treatment impression on day d is clicked with probability
   min(1, p_click · (1 + lift_d)), lift_d = lift + novelty · 2^(−d / half-life):
   the hidden ``p_click`` times a documented relative lift, plus an optional
   novelty bonus that decays (users click the new thing, then get used to it).
3. **An optional logging bug.** ``lost_treatment_share`` of treatment users
   lose all their events (e.g. a client crash in v2 before logging), the
   classic cause of a sample ratio mismatch (SRM).

Nothing is lost silently: dirty rows of the raw log (``dirty_mask``) are
dropped and counted in ``ABLog.n_dirty_dropped``; lost users are counted in
``n_lost_users``. The truth is kept for checking: ``p_true`` per impression
and ``true_lift`` (Σ p_true / Σ p_click over treatment impressions).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from common.shopstream import ShopStream, dirty_mask
from labs.experiments.validation import check_probability

CONTROL, TREATMENT = "control", "treatment"
ARMS = (CONTROL, TREATMENT)
COLUMNS = ("user_id", "arm", "day", "event_timestamp", "clicked", "p_true")


@dataclass(frozen=True)
class ABDesign:
    """What the simulated experiment does; every knob changes the log."""

    lift: float = 0.04  # long-run relative lift of v2's click probability
    novelty: float = 0.0  # extra relative lift on day 0, decaying
    novelty_half_life_days: float = 1.0  # the novelty bonus halves every this many days
    treatment_share: float = 0.5  # share of users the hash sends to v2
    salt: str = "ranker-v2"  # one salt per experiment
    lost_treatment_share: float = (
        0.0  # logging bug: treatment users whose events vanish
    )
    seed: int = 0  # draws of the treatment clicks and of the lost users

    def __post_init__(self) -> None:
        if self.lift <= -1.0:
            raise ValueError(f"lift is relative and must exceed -1, got {self.lift}.")
        if self.novelty < 0 or self.novelty_half_life_days <= 0:
            raise ValueError(
                f"novelty must be >= 0 and novelty_half_life_days > 0, got "
                f"{self.novelty} and {self.novelty_half_life_days}."
            )
        check_probability("treatment_share", self.treatment_share)
        check_probability("lost_treatment_share", self.lost_treatment_share)

    def lift_on_day(self, day: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """lift_d = lift + novelty · 2^(−d / half-life), d = 0 on the first day."""
        d = np.asarray(day, dtype=float)
        return self.lift + self.novelty * 2.0 ** (-d / self.novelty_half_life_days)


@dataclass
class ABLog:
    """The experiment's impression log and what was done to build it.

    Attributes:
        impressions: one row per clean impression: ``user_id``, ``arm``
            (control/treatment), ``day`` (0-based), ``event_timestamp``,
            ``clicked`` and the hidden ``p_true`` (the arm's click probability).
        design: the :class:`ABDesign` used.
        n_dirty_dropped: corrupted raw rows removed before assignment.
        n_lost_users: treatment users whose events the logging bug removed.
        true_lift: Σ p_true / Σ p_click − 1 over the treatment impressions.
        true_lift_by_day: the same, per day.
    """

    impressions: pd.DataFrame
    design: ABDesign
    n_dirty_dropped: int
    n_lost_users: int
    true_lift: float
    true_lift_by_day: dict[int, float]


def _splitmix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 finaliser: a fast, well-mixed 64-bit hash (wrapping arithmetic)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hash_unit(user_ids: npt.ArrayLike, salt: str) -> npt.NDArray[np.float64]:
    """A uniform number in [0, 1) per user, fixed by (salt, user_id)."""
    key = int.from_bytes(
        hashlib.blake2b(salt.encode(), digest_size=8).digest(), "little"
    )
    ids = np.asarray(user_ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = _splitmix64(ids ^ np.uint64(key))
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


def assign_arms(
    user_ids: npt.ArrayLike, *, salt: str, treatment_share: float = 0.5
) -> npt.NDArray[np.bool_]:
    """True for users in treatment: hash_unit(user) < treatment_share."""
    check_probability("treatment_share", treatment_share)
    return hash_unit(user_ids, salt) < treatment_share


def build_ab_log(ds: ShopStream, design: ABDesign | None = None) -> ABLog:
    """Turn a ShopStream dataset into the log of an A/B test (see the module doc)."""
    design = design or ABDesign()
    raw = ds.impressions
    dirty = dirty_mask(raw)
    clean = raw.loc[~dirty]
    user_id = clean["user_id"].to_numpy(dtype=np.int64)
    start = pd.Timestamp(ds.meta["config"]["start"], tz="UTC")
    day = ((clean["event_timestamp"] - start) // pd.Timedelta(days=1)).to_numpy(
        np.int64
    )
    treated = assign_arms(
        user_id, salt=design.salt, treatment_share=design.treatment_share
    )

    rng = np.random.default_rng(design.seed)
    p_click = clean["p_click"].to_numpy(dtype=float)
    p_true = p_click.copy()
    p_true[treated] = np.minimum(
        1.0, p_click[treated] * (1.0 + design.lift_on_day(day[treated]))
    )
    clicked = clean["clicked"].to_numpy(dtype=np.int8).copy()
    clicked[treated] = (rng.random(int(treated.sum())) < p_true[treated]).astype(
        np.int8
    )

    lost = np.zeros(len(clean), dtype=bool)
    treated_users = np.unique(user_id[treated])
    n_lost = round(design.lost_treatment_share * len(treated_users))
    if n_lost:
        lost_users = rng.choice(treated_users, size=n_lost, replace=False)
        lost = np.isin(user_id, lost_users)

    log = pd.DataFrame(
        {
            "user_id": user_id,
            "arm": np.where(treated, TREATMENT, CONTROL),
            "day": day,
            "event_timestamp": clean["event_timestamp"].array,
            "clicked": clicked,
            "p_true": p_true,
        }
    )
    kept = ~lost
    t = treated & kept
    by_day = {
        int(d): float(
            p_true[t & (day == d)].sum() / p_click[t & (day == d)].sum() - 1.0
        )
        for d in np.unique(day[t])
    }
    return ABLog(
        impressions=log.loc[kept].reset_index(drop=True),
        design=design,
        n_dirty_dropped=int(dirty.sum()),
        n_lost_users=int(n_lost),
        true_lift=float(p_true[t].sum() / p_click[t].sum() - 1.0),
        true_lift_by_day=by_day,
    )

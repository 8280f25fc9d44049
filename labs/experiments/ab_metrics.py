"""CTR of two arms compared at the level of the randomisation unit, the user (m5).

    from labs.experiments import user_table, compare_ctr
    users = user_table(log.impressions)      # one row per user: arm, impressions, clicks
    compare_ctr(users).relative_ci_low       # the lift's lower confidence bound

Users were randomised, not impressions, so impressions of one user are not
independent (a keen user clicks a lot everywhere). CTR is a ratio metric,
R = Σ clicks / Σ impressions over an arm's users, and its variance has to be
computed over users. The **delta method** linearises the ratio of two means:

    Var(R̂) ≈ Var(x − R·y) / (n · ȳ²)

with x = clicks and y = impressions per user and n users. Treating every
impression as an independent Bernoulli trial instead (the "naive" binomial
SE) understates the variance by the *design effect* (SE_delta / SE_naive)²,
and makes noise look significant. A user-level bootstrap (resample users
within each arm) answers the same question without the linearisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from labs.experiments.ab_log import ARMS, CONTROL, TREATMENT
from labs.experiments.bootstrap import Interval, percentile_interval
from labs.experiments.montecarlo import MonteCarloRate, rate_of
from labs.experiments.significance import (
    confidence_interval,
    normal_p_value,
    two_proportion_ztest,
)
from labs.experiments.validation import check_open_unit, check_positive_int

USER_COLUMNS = ("arm", "impressions", "clicks")


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} is missing columns {missing}; it has {list(frame.columns)}."
        )


def user_table(impressions: pd.DataFrame) -> pd.DataFrame:
    """Aggregate an impression log to one row per user.

    Args:
        impressions: rows with ``user_id``, ``arm`` and ``clicked`` (0/1).

    Returns:
        A frame indexed by ``user_id`` with ``arm``, ``impressions`` (rows)
        and ``clicks`` (sum of ``clicked``), sorted by user.

    Raises:
        ValueError: if a user appears in both arms (assignment is broken), or
            an arm name is unknown.
    """
    _require(impressions, ("user_id", "arm", "clicked"), "the impression log")
    unknown = set(impressions["arm"].unique()) - set(ARMS)
    if unknown:
        raise ValueError(f"unknown arms {sorted(unknown)}; expected {list(ARMS)}.")
    arms_per_user = impressions.groupby("user_id")["arm"].nunique()
    if (arms_per_user > 1).any():
        both = arms_per_user.index[arms_per_user > 1]
        raise ValueError(
            f"{len(both)} users appear in both arms (e.g. user {both[0]}); "
            "assignment must be per user. Check the hashing and the join."
        )
    # BEGIN SOLUTION m5: group by user: the user's arm, impression count and click sum
    users = impressions.groupby("user_id").agg(
        arm=("arm", "first"),
        impressions=("clicked", "size"),
        clicks=("clicked", "sum"),
    )
    return users.sort_index()
    # END SOLUTION


@dataclass(frozen=True)
class RatioEstimate:
    """A ratio metric Σx / Σy over n units, with its delta-method standard error."""

    ratio: float
    se: float
    n_units: int
    numerator: float  # Σx
    denominator: float  # Σy


def ratio_estimate(
    numerators: npt.ArrayLike, denominators: npt.ArrayLike
) -> RatioEstimate:
    """Estimate R = Σx / Σy over units and its standard error by the delta method.

    With unit means x̄, ȳ, R = x̄ / ȳ and sample variances (ddof = 1),

        Var(R̂) ≈ (s_x² − 2 R s_xy + R² s_y²) / (n ȳ²) = Var(x − R y) / (n ȳ²).

    Args:
        numerators: x per unit (clicks per user).
        denominators: y per unit (impressions per user), positive in total.
    """
    x = np.asarray(numerators, dtype=float)
    y = np.asarray(denominators, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(
            f"numerators and denominators must be 1-d of equal length >= 2, got "
            f"shapes {x.shape} and {y.shape}."
        )
    if y.sum() <= 0:
        raise ValueError("the denominators sum to 0: the ratio is undefined.")
    # BEGIN SOLUTION m5: the ratio of sums and the delta-method variance over units
    n = x.size
    ratio = x.sum() / y.sum()
    residual = x - ratio * y
    variance = residual.var(ddof=1) / (n * y.mean() ** 2)
    return RatioEstimate(
        ratio=float(ratio),
        se=float(np.sqrt(variance)),
        n_units=n,
        numerator=float(x.sum()),
        denominator=float(y.sum()),
    )
    # END SOLUTION


@dataclass(frozen=True)
class CTRComparison:
    """Treatment vs control CTR, absolute and relative, with user-level inference."""

    control: RatioEstimate
    treatment: RatioEstimate
    effect: float  # CTR_t − CTR_c
    se: float  # delta-method SE of effect
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    relative_effect: float  # CTR_t / CTR_c − 1
    relative_ci_low: float
    relative_ci_high: float
    log_ratio_se: float  # SE of log(CTR_t / CTR_c)
    naive_se: float  # the binomial SE that treats impressions as independent

    @property
    def design_effect(self) -> float:
        """(SE_delta / SE_naive)²: how much the naive variance understates."""
        return (self.se / self.naive_se) ** 2


def _arm(users: pd.DataFrame, arm: str) -> pd.DataFrame:
    part = users[users["arm"] == arm]
    if len(part) < 2:
        raise ValueError(
            f"the {arm} arm has {len(part)} users; at least 2 per arm are needed "
            "for a user-level variance."
        )
    return part


def compare_ctr(users: pd.DataFrame, *, alpha: float = 0.05) -> CTRComparison:
    """Compare the arms' CTR with the delta method over users.

    effect = R_t − R_c with SE sqrt(SE_c² + SE_t²) (independent arms), a
    two-sided z-test and a (1 − alpha) interval. The relative lift uses the
    log scale, where the arms' relative errors add:

        Var(log R_t − log R_c) ≈ (SE_t / R_t)² + (SE_c / R_c)²,
        relative CI = exp(log(R_t / R_c) ± z_{1−α/2} · that SE) − 1.

    Args:
        users: :func:`user_table` output.
        alpha: the level.
    """
    check_open_unit("alpha", alpha)
    _require(users, USER_COLUMNS, "the user table")
    control, treatment = _arm(users, CONTROL), _arm(users, TREATMENT)
    # BEGIN SOLUTION m5: delta-method ratios per arm, the z-test, absolute and log-scale relative CIs, the naive SE
    c = ratio_estimate(control["clicks"], control["impressions"])
    t = ratio_estimate(treatment["clicks"], treatment["impressions"])
    effect = t.ratio - c.ratio
    se = float(np.hypot(c.se, t.se))
    z = effect / se
    low, high = confidence_interval(effect, se, alpha)
    log_ratio = float(np.log(t.ratio / c.ratio))
    log_se = float(np.hypot(c.se / c.ratio, t.se / t.ratio))
    rel_low, rel_high = confidence_interval(log_ratio, log_se, alpha)
    naive_se = float(
        np.sqrt(
            c.ratio * (1 - c.ratio) / c.denominator
            + t.ratio * (1 - t.ratio) / t.denominator
        )
    )
    return CTRComparison(
        control=c,
        treatment=t,
        effect=float(effect),
        se=se,
        ci_low=float(low),
        ci_high=float(high),
        z=float(z),
        p_value=float(normal_p_value(z)),
        relative_effect=float(np.expm1(log_ratio)),
        relative_ci_low=float(np.expm1(rel_low)),
        relative_ci_high=float(np.expm1(rel_high)),
        log_ratio_se=log_se,
        naive_se=naive_se,
    )
    # END SOLUTION


def bootstrap_ctr_difference(
    users: pd.DataFrame,
    *,
    n_resamples: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """A user-level bootstrap percentile interval of CTR_t − CTR_c.

    Each replicate resamples the users of each arm with replacement (the arms
    independently, as they were randomised) and recomputes each arm's
    Σ clicks / Σ impressions; the interval is the percentile interval (m4) of
    the B differences.
    """
    _require(users, USER_COLUMNS, "the user table")
    check_positive_int("n_resamples", n_resamples, minimum=2)
    rng = np.random.default_rng(seed)
    replicates = np.zeros(n_resamples)  # (B,) CTR_t − CTR_c per replicate
    for arm, sign in ((CONTROL, -1.0), (TREATMENT, 1.0)):
        part = _arm(users, arm)
        clicks = part["clicks"].to_numpy(dtype=float)
        shown = part["impressions"].to_numpy(dtype=float)
        n = clicks.size
        per_chunk = max(1, 4_000_000 // n)
        for start in range(0, n_resamples, per_chunk):
            b = min(per_chunk, n_resamples - start)
            # BEGIN SOLUTION m5: resample this arm's users b times; add sign * (its CTR)
            idx = rng.integers(0, n, size=(b, n))  # (b, n)
            ctr = clicks[idx].sum(axis=1) / shown[idx].sum(axis=1)  # (b,)
            replicates[start : start + b] += sign * ctr
            # END SOLUTION
    low, high = percentile_interval(replicates, confidence=confidence)
    return Interval(float(low), float(high))


def aa_false_positive_rates(
    users: pd.DataFrame,
    *,
    n_splits: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[MonteCarloRate, MonteCarloRate]:
    """How often an A/A split of the same users looks significant, by method.

    The users are split into two random halves ``n_splits`` times (their
    ``arm`` column is ignored, so pass users whose clicks do not depend on the
    arm, e.g. from a ``lift=0`` log) and each split is tested twice: with the
    user-level delta method (:func:`compare_ctr`) and with the per-impression
    two-proportion z-test (m1) that treats impressions as independent. A
    valid test rejects about ``alpha`` of the splits.

    Returns:
        ``(delta, naive)`` false-positive rates with their Monte-Carlo SEs.
    """
    _require(users, ("impressions", "clicks"), "the user table")
    check_positive_int("n_splits", n_splits)
    rng = np.random.default_rng(seed)
    base = users[["impressions", "clicks"]]
    delta_hits, naive_hits = [], []
    for _ in range(n_splits):
        treated = rng.random(len(base)) < 0.5
        split = base.assign(arm=np.where(treated, TREATMENT, CONTROL))
        cmp = compare_ctr(split, alpha=alpha)
        naive = two_proportion_ztest(
            cmp.control.numerator,
            cmp.control.denominator,
            cmp.treatment.numerator,
            cmp.treatment.denominator,
        )
        delta_hits.append(cmp.p_value < alpha)
        naive_hits.append(naive.p_value < alpha)
    return rate_of(delta_hits), rate_of(naive_hits)

"""Read an A/B test the way a reviewer would: SRM first, then effect, novelty, decision (m5).

    from labs.experiments import analyse_ab
    report = analyse_ab(log.impressions)
    report.decision, report.reasons

The order matters. A **sample ratio mismatch** (50/50 configured, 52/48
observed) means assignment or logging is broken, and no metric of that test
can be trusted, so it is checked before anything else with a chi-square
goodness-of-fit test at a strict level (0.001: a healthy test should almost
never trip it). Then the primary metric, CTR, compared over users (m5's
``compare_ctr``), and a secondary one, clicks per user (Welch, m1). Then the
effect **by day**: a novelty effect shows as a lift that shrinks day after
day, and the average over the test then overstates the long-run lift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from labs.experiments.ab_log import CONTROL, TREATMENT
from labs.experiments.ab_metrics import CTRComparison, compare_ctr, user_table
from labs.experiments.distributions import chi2_sf, normal_ppf, normal_sf
from labs.experiments.significance import SignificanceResult, welch_ttest
from labs.experiments.validation import check_open_unit


@dataclass(frozen=True)
class SRMResult:
    """Pearson's chi-square goodness of fit of the observed split."""

    statistic: float
    p_value: float
    df: int
    observed: tuple[int, ...]
    expected: tuple[float, ...]


def srm_test(observed: npt.ArrayLike, expected_shares: npt.ArrayLike) -> SRMResult:
    """Test whether units split across arms as configured.

    With N = Σ o_i and expected counts e_i = N · share_i,

        χ² = Σ (o_i − e_i)² / e_i,   df = k − 1,   p = P(χ²_df >= χ²).

    Args:
        observed: units per arm, e.g. users seen in control and treatment.
        expected_shares: the configured split, e.g. (0.5, 0.5); must sum to 1.
    """
    o = np.asarray(observed, dtype=float)
    shares = np.asarray(expected_shares, dtype=float)
    if o.shape != shares.shape or o.ndim != 1 or o.size < 2:
        raise ValueError(
            f"observed and expected_shares must be 1-d of the same length >= 2, "
            f"got shapes {o.shape} and {shares.shape}."
        )
    if np.any(o < 0) or o.sum() == 0:
        raise ValueError(f"observed counts must be >= 0 and not all 0, got {o}.")
    if np.any(shares <= 0) or not np.isclose(shares.sum(), 1.0):
        raise ValueError(
            f"expected_shares must be positive and sum to 1, got {shares} "
            f"(sum {shares.sum():g})."
        )
    # BEGIN SOLUTION m5: expected counts from the shares, Pearson's chi-square, its upper tail
    expected = o.sum() * shares
    statistic = float(np.sum((o - expected) ** 2 / expected))
    df = o.size - 1
    return SRMResult(
        statistic=statistic,
        p_value=float(chi2_sf(statistic, df)),
        df=df,
        observed=tuple(int(v) for v in o),
        expected=tuple(float(v) for v in expected),
    )
    # END SOLUTION


def effect_by_day(impressions: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """The CTR comparison computed separately for each day of the test.

    Each day's users (those with impressions that day) are aggregated and
    compared with :func:`compare_ctr`.

    Returns:
        One row per ``day`` with ``users_control``, ``users_treatment``,
        ``ctr_control``, ``ctr_treatment``, ``relative_effect``,
        ``relative_ci_low``, ``relative_ci_high``, ``log_ratio_se`` and
        ``p_value``.
    """
    if "day" not in impressions.columns:
        raise ValueError("the impression log needs a 'day' column (0-based test day).")
    rows = []
    for day, part in impressions.groupby("day", sort=True):
        # BEGIN SOLUTION m5: aggregate this day's users and compare the arms
        cmp = compare_ctr(user_table(part), alpha=alpha)
        rows.append(
            {
                "day": int(day),
                "users_control": cmp.control.n_units,
                "users_treatment": cmp.treatment.n_units,
                "ctr_control": cmp.control.ratio,
                "ctr_treatment": cmp.treatment.ratio,
                "relative_effect": cmp.relative_effect,
                "relative_ci_low": cmp.relative_ci_low,
                "relative_ci_high": cmp.relative_ci_high,
                "log_ratio_se": cmp.log_ratio_se,
                "p_value": cmp.p_value,
            }
        )
        # END SOLUTION
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class NoveltyCheck:
    """Whether the lift of the first day exceeds that of the last day."""

    first_day_lift: float
    last_day_lift: float
    z: float
    p_value: float  # one-sided: first > last
    flagged: bool


def novelty_check(by_day: pd.DataFrame, *, alpha: float = 0.05) -> NoveltyCheck:
    """Test for a decaying (novelty) effect: is day 0's lift above the last day's?

    On the log scale, z = (log(1 + l_first) − log(1 + l_last)) /
    sqrt(se_first² + se_last²), one-sided. The days share users, so this is
    approximate; the plot of the effect by day is the real evidence.
    """
    check_open_unit("alpha", alpha)
    if len(by_day) < 2:
        raise ValueError(
            f"a novelty check needs at least 2 days of data, got {len(by_day)}."
        )
    first, last = by_day.iloc[0], by_day.iloc[-1]
    # BEGIN SOLUTION m5: z of the log-lift difference, first day minus last, one-sided
    diff = np.log1p(first["relative_effect"]) - np.log1p(last["relative_effect"])
    z = float(diff / np.hypot(first["log_ratio_se"], last["log_ratio_se"]))
    p_value = float(normal_sf(z))
    # END SOLUTION
    return NoveltyCheck(
        first_day_lift=float(first["relative_effect"]),
        last_day_lift=float(last["relative_effect"]),
        z=z,
        p_value=p_value,
        flagged=bool(z > normal_ppf(1.0 - alpha)),
    )


@dataclass(frozen=True)
class ABReport:
    """Everything a reviewer asks of an A/B test, and the decision it supports."""

    users: tuple[int, int]  # (control, treatment)
    srm: SRMResult
    ctr: CTRComparison
    clicks_per_user: SignificanceResult
    by_day: pd.DataFrame
    novelty: NoveltyCheck
    decision: str  # ship | do not ship | inconclusive | invalid
    reasons: list[str] = field(default_factory=list)


def analyse_ab(
    impressions: pd.DataFrame,
    *,
    alpha: float = 0.05,
    srm_alpha: float = 0.001,
    treatment_share: float = 0.5,
) -> ABReport:
    """Analyse an A/B impression log and decide.

    The decision, in order:

    1. **invalid** if the SRM p-value < ``srm_alpha``: do not read the metrics;
    2. **ship** if CTR is significantly higher (p < ``alpha``, CI above 0);
    3. **do not ship** if it is significantly lower;
    4. **inconclusive** otherwise.

    ``reasons`` says why in sentences built from the figures, including a
    novelty warning when the first day's lift is significantly above the last's.
    """
    check_open_unit("alpha", alpha)
    check_open_unit("srm_alpha", srm_alpha)
    check_open_unit("treatment_share", treatment_share)
    users = user_table(impressions)
    n_control = int((users["arm"] == CONTROL).sum())
    n_treatment = int((users["arm"] == TREATMENT).sum())
    srm = srm_test([n_control, n_treatment], [1.0 - treatment_share, treatment_share])
    ctr = compare_ctr(users, alpha=alpha)
    clicks_per_user = welch_ttest(
        users.loc[users["arm"] == CONTROL, "clicks"].to_numpy(),
        users.loc[users["arm"] == TREATMENT, "clicks"].to_numpy(),
        alpha=alpha,
    )
    by_day = effect_by_day(impressions, alpha=alpha)
    novelty = novelty_check(by_day, alpha=alpha)
    reasons: list[str] = []
    # BEGIN SOLUTION m5: SRM gate first, then the CTR test; explain with the figures
    lift = (
        f"CTR {ctr.control.ratio:.4%} -> {ctr.treatment.ratio:.4%}, relative lift "
        f"{ctr.relative_effect:+.2%} (95% CI {ctr.relative_ci_low:+.2%} to "
        f"{ctr.relative_ci_high:+.2%}), p = {ctr.p_value:.3g}"
    ).replace("95%", f"{1 - alpha:.0%}")
    if srm.p_value < srm_alpha:
        decision = "invalid"
        reasons.append(
            f"sample ratio mismatch: {n_control:,} vs {n_treatment:,} users where "
            f"{1 - treatment_share:.0%}/{treatment_share:.0%} was configured "
            f"(chi-square {srm.statistic:.1f}, p = {srm.p_value:.2g} < {srm_alpha}); "
            "debug assignment and logging before reading any metric."
        )
    elif ctr.p_value < alpha:
        decision = "ship" if ctr.effect > 0 else "do not ship"
        reasons.append(f"significant at alpha = {alpha}: {lift}.")
    else:
        decision = "inconclusive"
        reasons.append(f"not significant at alpha = {alpha}: {lift}.")
    if decision != "invalid" and novelty.flagged:
        reasons.append(
            f"novelty: the lift fell from {novelty.first_day_lift:+.2%} on day 1 to "
            f"{novelty.last_day_lift:+.2%} on the last day (z = {novelty.z:.2f}); "
            "the average overstates the long-run effect, so judge the later days."
        )
    # END SOLUTION
    return ABReport(
        users=(n_control, n_treatment),
        srm=srm,
        ctr=ctr,
        clicks_per_user=clicks_per_user,
        by_day=by_day,
        novelty=novelty,
        decision=decision,
        reasons=reasons,
    )

"""Two-sample significance tests written from their formulas (milestone m1).

    from labs.experiments import two_proportion_ztest, welch_ttest
    two_proportion_ztest(480, 10_000, 560, 10_000).p_value   # CTR of two arms
    welch_ttest(revenue_control, revenue_treatment).ci_low   # a mean metric

Both tests report treatment − control, so a positive effect means the
treatment is higher, and both take numpy arrays: ``two_proportion_ztest``
broadcasts over arrays of counts and ``welch_ttest`` works along ``axis``,
which lets a simulation test 100,000 experiments in one call (m2, m3).

The tests check every number against ``scipy.stats``: the z-test's square is
Pearson's chi-square on the 2×2 table (``chi2_contingency(correction=False)``)
and its tails are ``norm``'s; Welch's test must equal
``ttest_ind(equal_var=False)`` (statistic, df, p-value and interval).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from labs.experiments.distributions import (
    normal_cdf,
    normal_ppf,
    normal_sf,
    t_cdf,
    t_ppf,
    t_sf,
)
from labs.experiments.validation import (
    Alternative,
    check_alternative,
    check_counts,
    check_open_unit,
    check_sample,
)

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SignificanceResult:
    """The outcome of a two-sample test; arrays when the inputs were arrays.

    Attributes:
        statistic: z or t.
        p_value: the probability, under H0, of a statistic at least as extreme.
        effect: the estimated difference, treatment − control.
        ci_low, ci_high: the (1 − alpha) confidence interval of ``effect``;
            one-sided alternatives give a one-sided interval (an infinite end).
        df: degrees of freedom (``inf`` for the z-test).
    """

    statistic: Floats | float
    p_value: Floats | float
    effect: Floats | float
    ci_low: Floats | float
    ci_high: Floats | float
    df: Floats | float

    def significant(self, alpha: float = 0.05) -> Floats | bool:
        """Whether H0 is rejected at level ``alpha`` (elementwise for arrays)."""
        result = np.asarray(self.p_value) < alpha
        return bool(result) if result.ndim == 0 else result


def _scalar_or_array(value: Floats) -> Floats | float:
    """Return 0-d results as Python floats so scalar calls read naturally."""
    value = np.asarray(value, dtype=float)
    return float(value) if value.ndim == 0 else value


def _result(
    statistic: Floats,
    p_value: Floats,
    effect: Floats,
    ci: tuple[Floats, Floats],
    df: Floats | float,
) -> SignificanceResult:
    return SignificanceResult(
        statistic=_scalar_or_array(statistic),
        p_value=_scalar_or_array(p_value),
        effect=_scalar_or_array(effect),
        ci_low=_scalar_or_array(ci[0]),
        ci_high=_scalar_or_array(ci[1]),
        df=_scalar_or_array(np.asarray(df, dtype=float)),
    )


def normal_p_value(z: npt.ArrayLike, alternative: Alternative = "two-sided") -> Floats:
    """The p-value of a standard-normal statistic.

    two-sided: 2 (1 − Φ(|z|));   greater: 1 − Φ(z);   less: Φ(z).
    """
    check_alternative(alternative)
    z = np.asarray(z, dtype=float)
    # BEGIN SOLUTION m1: the tail area of N(0, 1) beyond z for each alternative
    if alternative == "two-sided":
        return np.minimum(1.0, 2.0 * normal_sf(np.abs(z)))
    if alternative == "greater":
        return normal_sf(z)
    return normal_cdf(z)
    # END SOLUTION


def confidence_interval(
    effect: npt.ArrayLike,
    se: npt.ArrayLike,
    alpha: float,
    alternative: Alternative = "two-sided",
    df: npt.ArrayLike = np.inf,
) -> tuple[Floats, Floats]:
    """The (1 − alpha) interval ``effect ± q · se`` matching the alternative.

    ``q`` is the normal quantile (``df=inf``) or Student's t with ``df``:
    two-sided uses q(1 − alpha/2) on both ends; 'greater' gives
    [effect − q(1 − alpha) se, +inf) and 'less' (−inf, effect + q(1 − alpha) se].
    """
    check_alternative(alternative)
    check_open_unit("alpha", alpha)
    effect = np.asarray(effect, dtype=float)
    se = np.asarray(se, dtype=float)
    df = np.asarray(df, dtype=float)
    # BEGIN SOLUTION m1: the critical value q from N(0,1) or t(df), then the interval
    level = 1.0 - alpha / 2.0 if alternative == "two-sided" else 1.0 - alpha
    q = normal_ppf(level) if np.all(np.isinf(df)) else t_ppf(level, df)
    low = effect - q * se
    high = effect + q * se
    if alternative == "greater":
        high = np.full_like(high, np.inf)
    elif alternative == "less":
        low = np.full_like(low, -np.inf)
    return low, high
    # END SOLUTION


def two_proportion_ztest(
    successes_control: npt.ArrayLike,
    n_control: npt.ArrayLike,
    successes_treatment: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
) -> SignificanceResult:
    """Test whether two binomial rates differ (e.g. the CTR of two arms).

    With p̂_c = s_c / n_c, p̂_t = s_t / n_t and the pooled rate
    p̂ = (s_c + s_t) / (n_c + n_t), under H0: p_c = p_t

        z = (p̂_t − p̂_c) / sqrt(p̂ (1 − p̂) (1/n_c + 1/n_t))  ~  N(0, 1).

    The interval uses the unpooled standard error (H0 is not assumed there):
    sqrt(p̂_c (1 − p̂_c)/n_c + p̂_t (1 − p̂_t)/n_t). When both arms are all
    failures or all successes the data carry no evidence: z = 0, p = 1.

    Args:
        successes_control, n_control: clicks and impressions of the control arm.
        successes_treatment, n_treatment: the same for the treatment arm.
        alternative: 'two-sided', 'greater' (treatment > control) or 'less'.
        alpha: the level of the confidence interval (1 − alpha).

    Returns:
        A :class:`SignificanceResult` (arrays when any input is an array).
    """
    check_alternative(alternative)
    check_open_unit("alpha", alpha)
    s_c, n_c = check_counts("control", successes_control, n_control)
    s_t, n_t = check_counts("treatment", successes_treatment, n_treatment)
    # BEGIN SOLUTION m1: pooled z statistic, its p-value and the unpooled Wald interval
    p_c, p_t = s_c / n_c, s_t / n_t
    effect = p_t - p_c
    pooled = (s_c + s_t) / (n_c + n_t)
    se_null = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_c + 1.0 / n_t))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se_null > 0, effect / np.where(se_null > 0, se_null, 1.0), 0.0)
    p_value = normal_p_value(z, alternative)
    se = np.sqrt(p_c * (1.0 - p_c) / n_c + p_t * (1.0 - p_t) / n_t)
    ci = confidence_interval(effect, se, alpha, alternative)
    return _result(z, p_value, effect, ci, np.inf)
    # END SOLUTION


def welch_ttest(
    control: npt.ArrayLike,
    treatment: npt.ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
    axis: int = -1,
) -> SignificanceResult:
    """Welch's t-test for a difference in means without assuming equal variances.

    With sample means x̄, unbiased variances s² (ddof = 1) and sizes n,

        t  = (x̄_t − x̄_c) / sqrt(s_c²/n_c + s_t²/n_t)
        df = (s_c²/n_c + s_t²/n_t)² / ((s_c²/n_c)²/(n_c − 1) + (s_t²/n_t)²/(n_t − 1))

    (Welch–Satterthwaite) and t is referred to Student's t with df degrees of
    freedom. Equals ``scipy.stats.ttest_ind(treatment, control, equal_var=False)``.

    Args:
        control, treatment: observations (e.g. clicks per user), one test per
            slice along ``axis`` when they are arrays of samples.
        alternative: 'two-sided', 'greater' (treatment > control) or 'less'.
        alpha: the level of the confidence interval (1 − alpha).
        axis: the axis holding the observations.

    Raises:
        ValueError: if a sample has fewer than 2 observations or non-finite
            values, or if both samples are constant (the variance is 0).
    """
    check_alternative(alternative)
    check_open_unit("alpha", alpha)
    x_c = check_sample("control", control, axis)
    x_t = check_sample("treatment", treatment, axis)
    n_c, n_t = x_c.shape[axis], x_t.shape[axis]
    v_c, v_t = x_c.var(axis=axis, ddof=1) / n_c, x_t.var(axis=axis, ddof=1) / n_t
    if np.any(v_c + v_t == 0):
        raise ValueError(
            "both samples are constant (zero variance), so the t statistic is "
            "undefined; check that the metric varies between users."
        )
    # BEGIN SOLUTION m1: Welch's t, the Welch–Satterthwaite df, the t p-value and interval
    effect = x_t.mean(axis=axis) - x_c.mean(axis=axis)
    se = np.sqrt(v_c + v_t)
    t = effect / se
    df = (v_c + v_t) ** 2 / (v_c**2 / (n_c - 1) + v_t**2 / (n_t - 1))
    if alternative == "two-sided":
        p_value = np.minimum(1.0, 2.0 * t_sf(np.abs(t), df))
    elif alternative == "greater":
        p_value = t_sf(t, df)
    else:
        p_value = t_cdf(t, df)
    ci = confidence_interval(effect, se, alpha, alternative, df)
    return _result(t, p_value, effect, ci, df)
    # END SOLUTION

"""Power and sample size for a minimum detectable effect (milestone m2).

    from labs.experiments import sample_size_two_proportions, simulate_power
    n = sample_size_two_proportions(0.05, 0.005)      # 5.0% -> 5.5% CTR, per arm
    simulate_power(0.05, 0.005, n).rate                # ~0.80, by simulation

Power is the probability of rejecting H0 when the true effect is the minimum
detectable effect (MDE): the chance the experiment *sees* an effect that
large. Sample size inverts it: the smallest n per arm with power >= target.
The analytic formulas are normal approximations (proportions) or the exact
noncentral t (means); ``simulate_power`` checks the proportions formula by
running the m1 z-test on thousands of simulated experiments.

Conventions: ``mde`` is absolute (treatment − control; 0.005 is half a
percentage point of CTR, i.e. +10% relative at a 5% baseline), arms are equal,
and ``n_per_arm`` counts the randomisation units of one arm.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import optimize

from labs.experiments.distributions import (
    noncentral_t_cdf,
    normal_cdf,
    normal_ppf,
    t_ppf,
)
from labs.experiments.montecarlo import MonteCarloRate, rate_of
from labs.experiments.significance import two_proportion_ztest
from labs.experiments.validation import (
    Alternative,
    check_alternative,
    check_open_unit,
    check_positive_int,
)

Floats = npt.NDArray[np.float64]


def _check_rates(p_control: float, mde: float) -> None:
    p_treatment = p_control + mde
    if not (0.0 < p_control < 1.0 and 0.0 < p_treatment < 1.0):
        raise ValueError(
            f"p_control={p_control} and p_control + mde={p_treatment} must both lie "
            "strictly between 0 and 1; mde is the absolute difference of rates."
        )
    if mde == 0:
        raise ValueError(
            "mde must be non-zero: power against an effect of 0 is just alpha."
        )


def _check_direction(mde: float, alternative: Alternative) -> None:
    if (alternative == "greater" and mde < 0) or (alternative == "less" and mde > 0):
        raise ValueError(
            f"alternative={alternative!r} cannot detect mde={mde}: the one-sided "
            "test looks the other way, so its power never reaches the target."
        )


def power_two_proportions(
    p_control: float,
    mde: float,
    n_per_arm: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> Floats | float:
    """Power of the pooled two-proportion z-test (m1) against ``mde``.

    With p_t = p_c + δ, p̄ = (p_c + p_t)/2, the null and alternative standard
    errors of p̂_t − p̂_c are σ0 = sqrt(2 p̄ (1 − p̄) / n) and
    σ1 = sqrt((p_c (1 − p_c) + p_t (1 − p_t)) / n). The test rejects when
    |p̂_t − p̂_c| > z_{1−α/2} σ0, so (two-sided)

        power = Φ((δ − z_{1−α/2} σ0) / σ1) + Φ((−δ − z_{1−α/2} σ0) / σ1)

    and one-sided: Φ((±δ − z_{1−α} σ0) / σ1) with + for 'greater'.

    Args:
        p_control: the baseline rate, e.g. the control CTR.
        mde: the absolute effect to detect (p_treatment − p_control).
        n_per_arm: units per arm (an array gives a power curve).
        alpha: the test's level.
        alternative: 'two-sided', 'greater' or 'less'.
    """
    check_open_unit("alpha", alpha)
    check_alternative(alternative)
    _check_rates(p_control, mde)
    n = np.asarray(n_per_arm, dtype=float)
    if np.any(n < 1):
        raise ValueError(f"n_per_arm must be at least 1, got min {n.min():g}.")
    # BEGIN SOLUTION m2: sigma0 under H0 (pooled), sigma1 under H1, then the normal tails
    p_t = p_control + mde
    p_bar = (p_control + p_t) / 2.0
    sigma0 = np.sqrt(2.0 * p_bar * (1.0 - p_bar) / n)
    sigma1 = np.sqrt((p_control * (1.0 - p_control) + p_t * (1.0 - p_t)) / n)
    if alternative == "two-sided":
        z = normal_ppf(1.0 - alpha / 2.0)
        power = normal_cdf((mde - z * sigma0) / sigma1) + normal_cdf(
            (-mde - z * sigma0) / sigma1
        )
    else:
        z = normal_ppf(1.0 - alpha)
        sign = 1.0 if alternative == "greater" else -1.0
        power = normal_cdf((sign * mde - z * sigma0) / sigma1)
    return float(power) if power.ndim == 0 else power
    # END SOLUTION


def sample_size_two_proportions(
    p_control: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
) -> int:
    """The smallest n per arm whose :func:`power_two_proportions` reaches ``power``.

    The closed form ignores the far tail of the two-sided test:

        n = ((z_{1−α/2} sqrt(2 p̄ (1 − p̄)) + z_{power} sqrt(p_c q_c + p_t q_t)) / δ)²

    rounded up (z_{1−α} for one-sided tests); the result is then nudged by
    whole units until it is exactly the smallest n with enough power.
    """
    check_open_unit("alpha", alpha)
    check_open_unit("power", power)
    check_alternative(alternative)
    _check_rates(p_control, mde)
    _check_direction(mde, alternative)
    # BEGIN SOLUTION m2: the closed-form n, then step it to the smallest n with enough power
    p_t = p_control + mde
    p_bar = (p_control + p_t) / 2.0
    z_alpha = normal_ppf(
        1.0 - alpha / 2.0 if alternative == "two-sided" else 1.0 - alpha
    )
    z_power = normal_ppf(power)
    spread = z_alpha * math.sqrt(2.0 * p_bar * (1.0 - p_bar)) + z_power * math.sqrt(
        p_control * (1.0 - p_control) + p_t * (1.0 - p_t)
    )
    n = max(1, math.ceil((spread / mde) ** 2))

    def enough(k: int) -> bool:
        return bool(
            power_two_proportions(
                p_control, mde, k, alpha=alpha, alternative=alternative
            )
            >= power
        )

    while not enough(n):
        n += 1
    while n > 1 and enough(n - 1):
        n -= 1
    return n
    # END SOLUTION


def power_means(
    sd: float,
    mde: float,
    n_per_arm: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> Floats | float:
    """Power of a t-test of means (equal arms, common ``sd``) against ``mde``.

    The statistic follows a noncentral t with df = 2n − 2 and noncentrality
    λ = δ / (sd sqrt(2/n)); with t* = t_{1−α/2}(df),

        power = 1 − F_{df,λ}(t*) + F_{df,λ}(−t*)

    (one-sided: 1 − F_{df,λ}(t_{1−α}) for 'greater', F_{df,λ}(−t_{1−α}) for
    'less'). This is exact for Student's test and very close for Welch's.
    """
    check_open_unit("alpha", alpha)
    check_alternative(alternative)
    if sd <= 0:
        raise ValueError(f"sd must be positive, got {sd}; estimate it from past data.")
    n = np.asarray(n_per_arm, dtype=float)
    if np.any(n < 2):
        raise ValueError(
            f"n_per_arm must be at least 2 for a t-test, got min {n.min():g}."
        )
    # BEGIN SOLUTION m2: df and noncentrality, then the noncentral-t tails beyond t*
    df = 2.0 * n - 2.0
    nc = mde / (sd * np.sqrt(2.0 / n))
    if alternative == "two-sided":
        t_star = t_ppf(1.0 - alpha / 2.0, df)
        power = (
            1.0 - noncentral_t_cdf(t_star, df, nc) + noncentral_t_cdf(-t_star, df, nc)
        )
    elif alternative == "greater":
        power = 1.0 - noncentral_t_cdf(t_ppf(1.0 - alpha, df), df, nc)
    else:
        power = noncentral_t_cdf(-t_ppf(1.0 - alpha, df), df, nc)
    return float(power) if power.ndim == 0 else power
    # END SOLUTION


def sample_size_means(
    sd: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
) -> int:
    """The smallest n per arm whose :func:`power_means` reaches ``power``.

    Starts from the normal approximation n ≈ 2 (z_{1−α/2} + z_{power})² sd² / δ²
    and steps to the exact noncentral-t answer (a few units more at small n).
    """
    check_open_unit("alpha", alpha)
    check_open_unit("power", power)
    check_alternative(alternative)
    if mde == 0:
        raise ValueError("mde must be non-zero: power against 0 is just alpha.")
    _check_direction(mde, alternative)
    # BEGIN SOLUTION m2: start at the normal approximation, step to the exact smallest n
    z_alpha = normal_ppf(
        1.0 - alpha / 2.0 if alternative == "two-sided" else 1.0 - alpha
    )
    n = max(2, math.ceil(2.0 * ((z_alpha + normal_ppf(power)) * sd / mde) ** 2))

    def enough(k: int) -> bool:
        return bool(
            power_means(sd, mde, k, alpha=alpha, alternative=alternative) >= power
        )

    while not enough(n):
        n += 1
    while n > 2 and enough(n - 1):
        n -= 1
    return n
    # END SOLUTION


def minimum_detectable_effect(
    p_control: float,
    n_per_arm: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
) -> float:
    """The smallest absolute lift (> 0) detected with ``power`` at ``n_per_arm``.

    Solves ``power_two_proportions(p_control, mde, n) = power`` for mde: the
    question "what can we detect with the traffic we have?".
    """
    check_open_unit("power", power)
    check_positive_int("n_per_arm", n_per_arm)
    if alternative == "less":
        raise ValueError(
            "minimum_detectable_effect solves for a positive lift; "
            "use alternative='two-sided' or 'greater'."
        )

    def gap(mde: float) -> float:
        achieved = power_two_proportions(
            p_control, mde, n_per_arm, alpha=alpha, alternative=alternative
        )
        return float(achieved) - power

    upper = (1.0 - p_control) * (1.0 - 1e-9)
    if gap(upper) < 0:
        raise ValueError(
            f"even a lift to a rate of 1 is not detected with power {power} at "
            f"n_per_arm={n_per_arm}; more units are needed."
        )
    return float(optimize.brentq(gap, 1e-12, upper, xtol=1e-12))


def simulate_power(
    p_control: float,
    mde: float,
    n_per_arm: int,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    n_sims: int = 20_000,
    seed: int = 0,
) -> MonteCarloRate:
    """Achieved power by simulation: the share of experiments the z-test rejects.

    Each simulated experiment draws the clicks of both arms as binomial
    counts, Bin(n, p_c) and Bin(n, p_c + mde), and runs the m1
    :func:`two_proportion_ztest` on all of them in one vectorised call. The
    returned rate carries its Monte-Carlo standard error sqrt(p (1 − p) / n_sims).
    """
    check_open_unit("alpha", alpha)
    check_alternative(alternative)
    check_positive_int("n_per_arm", n_per_arm)
    check_positive_int("n_sims", n_sims)
    _check_rates(p_control, mde)
    rng = np.random.default_rng(seed)
    # BEGIN SOLUTION m2: draw both arms' binomial clicks per experiment, test them all at once
    clicks_control = rng.binomial(n_per_arm, p_control, size=n_sims)  # (n_sims,)
    clicks_treatment = rng.binomial(n_per_arm, p_control + mde, size=n_sims)
    result = two_proportion_ztest(
        clicks_control, n_per_arm, clicks_treatment, n_per_arm, alternative=alternative
    )
    return rate_of(np.asarray(result.p_value) < alpha)
    # END SOLUTION

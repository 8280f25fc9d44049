"""Bootstrap confidence intervals, percentile and BCa, and their coverage (m4).

    from labs.experiments import bootstrap_ci, bootstrap_coverage
    bootstrap_ci(revenue_per_user, np.mean, method="bca")          # one interval
    bootstrap_coverage(lognormal, truth, np.mean, n=30, method="bca").rate

The bootstrap treats the sample as the population: resampling it with
replacement B times gives B replicates θ*_b of the statistic, whose spread
stands in for the sampling distribution of θ̂.

- **percentile**: the α/2 and 1 − α/2 quantiles of θ*.
- **BCa** (bias-corrected and accelerated, Efron 1987): the same quantiles
  taken at adjusted levels that correct for a median bias of θ* (z0) and for
  a standard error that changes with θ (the acceleration a, from the
  jackknife). Second-order accurate, so it covers better on skewed data.

Coverage is measured, not assumed: ``bootstrap_coverage`` draws many samples
from a known population, builds an interval for each and counts how often it
contains the true value.

Statistics are vectorised like scipy's: ``statistic(x, axis=-1)`` reduces the
last axis (``np.mean``, ``np.median``, ``functools.partial(np.quantile, q=0.9)``),
and ``data`` of shape (..., n) gives one interval per leading index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from labs.experiments.distributions import normal_cdf, normal_ppf
from labs.experiments.montecarlo import MonteCarloRate, rate_of
from labs.experiments.validation import check_open_unit, check_positive_int

Statistic = Callable[..., npt.ArrayLike]  # statistic(x, axis=-1) -> reduced array
Sampler = Callable[[np.random.Generator, tuple[int, ...]], npt.ArrayLike]
Method = Literal["percentile", "bca"]
METHODS: tuple[str, ...] = get_args(Method)
Floats = npt.NDArray[np.float64]

# Resample in chunks of at most this many values so memory stays bounded.
CHUNK_VALUES = 4_000_000


def _check_data(data: npt.ArrayLike) -> Floats:
    x = np.asarray(data, dtype=float)
    if x.ndim == 0 or x.shape[-1] < 2:
        raise ValueError(
            f"data must hold at least 2 observations along its last axis, got "
            f"shape {x.shape}."
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"data holds {int(np.sum(~np.isfinite(x)))} NaN or infinite values; "
            "clean them explicitly before bootstrapping."
        )
    return x


def _apply(statistic: Statistic, x: Floats) -> Floats:
    return np.asarray(statistic(x, axis=-1), dtype=float)


def bootstrap_distribution(
    data: npt.ArrayLike,
    statistic: Statistic,
    *,
    n_resamples: int = 9_999,
    seed: int | np.random.Generator = 0,
) -> Floats:
    """The bootstrap replicates θ*_1..θ*_B of ``statistic``.

    Each replicate resamples the n observations with replacement (n indices
    drawn uniformly from 0..n−1, independently for every leading index of
    ``data``) and applies ``statistic`` along the last axis.

    Args:
        data: observations, shape (..., n).
        statistic: ``statistic(x, axis=-1)``.
        n_resamples: B.
        seed: a seed or a ``numpy.random.Generator``.

    Returns:
        Replicates, shape (..., B).
    """
    x = _check_data(data)
    check_positive_int("n_resamples", n_resamples, minimum=2)
    rng = np.random.default_rng(seed)
    batch, n = x.shape[:-1], x.shape[-1]
    per_chunk = max(1, CHUNK_VALUES // (n * max(1, int(np.prod(batch)))))
    chunks = []
    for start in range(0, n_resamples, per_chunk):
        b = min(per_chunk, n_resamples - start)
        # BEGIN SOLUTION m4: draw (..., b, n) indices with replacement, gather, reduce the last axis
        idx = rng.integers(0, n, size=(*batch, b, n))  # (..., b, n)
        resampled = np.take_along_axis(x[..., None, :], idx, axis=-1)  # (..., b, n)
        chunks.append(_apply(statistic, resampled))  # (..., b)
        # END SOLUTION
    return np.concatenate(chunks, axis=-1)


def percentile_interval(
    replicates: npt.ArrayLike, *, confidence: float = 0.95
) -> tuple[Floats, Floats]:
    """The percentile interval: quantiles α/2 and 1 − α/2 of the replicates.

    Quantiles interpolate linearly between order statistics (numpy's default).

    Args:
        replicates: θ*, shape (..., B).
        confidence: 1 − α.

    Returns:
        ``(low, high)``, each of shape (...).
    """
    check_open_unit("confidence", confidence)
    theta = np.asarray(replicates, dtype=float)
    # BEGIN SOLUTION m4: the alpha/2 and 1 - alpha/2 quantiles along the last axis
    alpha = 1.0 - confidence
    low, high = np.quantile(theta, [alpha / 2.0, 1.0 - alpha / 2.0], axis=-1)
    return low, high
    # END SOLUTION


def jackknife(data: npt.ArrayLike, statistic: Statistic) -> Floats:
    """Leave-one-out values θ_(i) of the statistic, shape (..., n)."""
    x = _check_data(data)
    n = x.shape[-1]
    # BEGIN SOLUTION m4: an (n, n-1) index matrix whose row i skips i; apply the statistic
    keep = ~np.eye(n, dtype=bool)  # row i drops observation i
    loo = np.broadcast_to(np.arange(n), (n, n))[keep].reshape(n, n - 1)  # (n, n-1)
    return _apply(statistic, x[..., loo])  # (..., n)
    # END SOLUTION


def bca_interval(
    data: npt.ArrayLike,
    statistic: Statistic,
    replicates: npt.ArrayLike,
    *,
    confidence: float = 0.95,
) -> tuple[Floats, Floats]:
    """The BCa interval from the data and its bootstrap replicates.

    With θ̂ = statistic(data), B replicates θ*, the jackknife values θ_(i) and
    their mean θ_(·):

        z0 = Φ⁻¹( (#{θ* < θ̂} + #{θ* <= θ̂}) / (2B) )            bias correction
        a  = Σ (θ_(·) − θ_(i))³ / (6 (Σ (θ_(·) − θ_(i))²)^{3/2})   acceleration
        α_j = Φ( z0 + (z0 + z_j) / (1 − a (z0 + z_j)) ),  z_j = Φ⁻¹(α/2), Φ⁻¹(1 − α/2)

    and the interval is the α_1 and α_2 quantiles of θ* (linear
    interpolation). With z0 = a = 0 it is the percentile interval. (Ties count
    half in z0, as in scipy; a is 0 when every jackknife value is equal.)

    Raises:
        ValueError: if ``replicates`` does not match ``data``'s leading shape.
    """
    check_open_unit("confidence", confidence)
    x = _check_data(data)
    theta_star = np.asarray(replicates, dtype=float)
    if theta_star.shape[:-1] != x.shape[:-1]:
        raise ValueError(
            f"replicates of shape {theta_star.shape} do not belong to data of shape "
            f"{x.shape}: expected ({', '.join(map(str, x.shape[:-1]))}, B)."
        )
    theta_hat = _apply(statistic, x)  # (...)
    theta_jack = jackknife(x, statistic)  # (..., n)
    # BEGIN SOLUTION m4: z0 from the replicates, a from the jackknife, adjusted quantile levels
    below = np.mean(theta_star < theta_hat[..., None], axis=-1)
    at_or_below = np.mean(theta_star <= theta_hat[..., None], axis=-1)
    z0 = normal_ppf((below + at_or_below) / 2.0)  # (...)
    d = theta_jack.mean(axis=-1, keepdims=True) - theta_jack  # (..., n)
    num = np.sum(d**3, axis=-1)
    den = 6.0 * np.sum(d**2, axis=-1) ** 1.5
    a = np.divide(num, den, out=np.zeros_like(num), where=den > 0)  # (...)
    alpha = 1.0 - confidence
    levels = []
    for z in (normal_ppf(alpha / 2.0), normal_ppf(1.0 - alpha / 2.0)):
        levels.append(normal_cdf(z0 + (z0 + z) / (1.0 - a * (z0 + z))))
    low = _quantile_rows(theta_star, levels[0])
    high = _quantile_rows(theta_star, levels[1])
    return low, high
    # END SOLUTION


def _quantile_rows(theta_star: Floats, levels: Floats) -> Floats:
    """The ``levels[...]`` quantile of each row ``theta_star[..., :]`` (linear)."""
    levels = np.asarray(levels, dtype=float)
    if np.any(~np.isfinite(levels)):
        raise ValueError(
            "the BCa levels are undefined: every replicate lies on one side of "
            "the estimate (a degenerate bootstrap distribution, e.g. a min or max "
            "statistic or a constant sample); use the percentile interval."
        )
    ordered = np.sort(theta_star, axis=-1)
    b = ordered.shape[-1]
    position = levels[..., None] * (b - 1)  # (..., 1) numpy 'linear' position
    lower = np.clip(np.floor(position).astype(np.int64), 0, b - 1)
    upper = np.clip(lower + 1, 0, b - 1)
    weight = position - lower
    lo = np.take_along_axis(ordered, lower, axis=-1)
    hi = np.take_along_axis(ordered, upper, axis=-1)
    return (lo + weight * (hi - lo))[..., 0]


@dataclass(frozen=True)
class Interval:
    """A confidence interval (arrays when the data held a batch of samples)."""

    low: Floats | float
    high: Floats | float


def bootstrap_ci(
    data: npt.ArrayLike,
    statistic: Statistic,
    *,
    method: Method = "bca",
    confidence: float = 0.95,
    n_resamples: int = 9_999,
    seed: int | np.random.Generator = 0,
) -> Interval:
    """A bootstrap confidence interval of ``statistic`` by ``method``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    replicates = bootstrap_distribution(
        data, statistic, n_resamples=n_resamples, seed=seed
    )
    if method == "percentile":
        low, high = percentile_interval(replicates, confidence=confidence)
    else:
        low, high = bca_interval(data, statistic, replicates, confidence=confidence)
    low, high = np.asarray(low), np.asarray(high)
    if low.ndim == 0:
        return Interval(float(low), float(high))
    return Interval(low, high)


@dataclass(frozen=True)
class Coverage:
    """How often simulated intervals contained the truth, and how they missed."""

    coverage: MonteCarloRate
    miss_low: float  # share of intervals entirely above the truth (truth below low)
    miss_high: float  # share entirely below the truth (truth above high)
    mean_width: float


def bootstrap_coverage(
    sample: Sampler,
    truth: float,
    statistic: Statistic,
    *,
    n: int,
    method: Method = "bca",
    confidence: float = 0.95,
    n_trials: int = 1_000,
    n_resamples: int = 1_000,
    seed: int = 0,
) -> Coverage:
    """Measure an interval's coverage by simulation.

    Draws ``n_trials`` independent samples of size ``n`` from a population
    whose statistic is ``truth`` (``sample(rng, (n_trials, n))``), builds one
    bootstrap interval per sample and counts how often low <= truth <= high.
    The coverage's standard error is sqrt(c (1 − c) / n_trials): about
    0.7 points for 1,000 trials at 95%.
    """
    check_positive_int("n", n, minimum=2)
    check_positive_int("n_trials", n_trials)
    rng = np.random.default_rng(seed)
    data = np.asarray(sample(rng, (n_trials, n)), dtype=float)
    if data.shape != (n_trials, n):
        raise ValueError(
            f"sample(rng, size) must return an array of shape size={n_trials, n}, "
            f"got {data.shape}."
        )
    lows, highs = [], []
    per_chunk = max(1, CHUNK_VALUES // (n * n))  # the jackknife holds (chunk, n, n−1)
    for start in range(0, n_trials, per_chunk):
        interval = bootstrap_ci(
            data[start : start + per_chunk],
            statistic,
            method=method,
            confidence=confidence,
            n_resamples=n_resamples,
            seed=rng,
        )
        lows.append(np.atleast_1d(interval.low))
        highs.append(np.atleast_1d(interval.high))
    low, high = np.concatenate(lows), np.concatenate(highs)
    return Coverage(
        coverage=rate_of((low <= truth) & (truth <= high)),
        miss_low=float(np.mean(truth < low)),
        miss_high=float(np.mean(truth > high)),
        mean_width=float(np.mean(high - low)),
    )

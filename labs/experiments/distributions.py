"""Tail probabilities and quantiles the tests are built from (given, not exercises).

The exercises write the *statistics* (z, t, chi-square, power, intervals) from
their formulas; these are the distribution functions they look the statistic
up in. They wrap ``scipy.special`` (the numerical kernels), never
``scipy.stats``, which the lab's tests use as the independent oracle.

    Φ(z)      = normal_cdf(z)           P(Z <= z), Z ~ N(0, 1)
    1 − Φ(z)  = normal_sf(z)            accurate far in the tail
    Φ⁻¹(q)    = normal_ppf(q)           e.g. normal_ppf(0.975) = 1.95996...
    P(T <= t) = t_cdf(t, df)            Student t with df degrees of freedom
    P(T >= t) = t_sf(t, df)
    t_ppf(q, df)                         the t quantile
    P(X >= x) = chi2_sf(x, df)          chi-square upper tail
    P(T' <= t) = noncentral_t_cdf(t, df, nc)   the power of a t-test
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import special

ArrayLike = npt.ArrayLike


def normal_cdf(z: ArrayLike) -> np.ndarray:
    """Φ(z), the standard normal CDF."""
    return special.ndtr(np.asarray(z, dtype=float))


def normal_sf(z: ArrayLike) -> np.ndarray:
    """1 − Φ(z), computed as Φ(−z) so small tails keep their precision."""
    return special.ndtr(-np.asarray(z, dtype=float))


def normal_ppf(q: ArrayLike) -> np.ndarray:
    """Φ⁻¹(q), the standard normal quantile."""
    return special.ndtri(np.asarray(q, dtype=float))


def t_cdf(t: ArrayLike, df: ArrayLike) -> np.ndarray:
    """P(T <= t) for Student's t with ``df`` (possibly fractional) degrees of freedom."""
    return special.stdtr(np.asarray(df, dtype=float), np.asarray(t, dtype=float))


def t_sf(t: ArrayLike, df: ArrayLike) -> np.ndarray:
    """P(T >= t), by symmetry P(T <= −t)."""
    return special.stdtr(np.asarray(df, dtype=float), -np.asarray(t, dtype=float))


def t_ppf(q: ArrayLike, df: ArrayLike) -> np.ndarray:
    """The q-quantile of Student's t with ``df`` degrees of freedom."""
    return special.stdtrit(np.asarray(df, dtype=float), np.asarray(q, dtype=float))


def chi2_sf(x: ArrayLike, df: ArrayLike) -> np.ndarray:
    """P(X >= x) for a chi-square variable with ``df`` degrees of freedom."""
    return special.chdtrc(np.asarray(df, dtype=float), np.asarray(x, dtype=float))


def noncentral_t_cdf(t: ArrayLike, df: ArrayLike, nc: ArrayLike) -> np.ndarray:
    """P(T' <= t) for a noncentral t with ``df`` degrees of freedom and noncentrality ``nc``."""
    return special.nctdtr(
        np.asarray(df, dtype=float),
        np.asarray(nc, dtype=float),
        np.asarray(t, dtype=float),
    )

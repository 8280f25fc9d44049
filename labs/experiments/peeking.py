"""Peeking at a running A/B test, and group-sequential rules that allow it (m3).

    from labs.experiments import simulate_z_paths, sequential_boundaries, crossing_rate
    z = simulate_z_paths(0.05, 0.05, 20_000, n_looks=10)      # 20,000 A/A tests
    crossing_rate(z, sequential_boundaries(10, kind="naive"))  # ~0.19, not 0.05
    crossing_rate(z, sequential_boundaries(10))                # O'Brien-Fleming: ~0.05

A PM who checks the dashboard after every tenth of the traffic and stops at
the first p < 0.05 runs ten tests, not one: the false-positive rate is the
chance that the z path crosses ±1.96 at *any* look. The looks share data (the
z at look k contains every user of look k − 1), so corr(Z_j, Z_k) =
sqrt(j/k) and the inflation is well below the 1 − 0.95^K of independent
tests; this module measures it instead of assuming it.

A group-sequential rule keeps the overall level at alpha by demanding more at
each look: boundaries c·s_k with shape s_k = 1 (Pocock: the same bar at every
look) or s_k = sqrt(K/k) (O'Brien-Fleming: very strict early, close to 1.96 at
the end). The constant c solves P(any |Z_k| >= c·s_k | H0) = alpha, computed
here by simulating the statistic's limiting law: Z_k = S_k / sqrt(k) where S
is a random walk with N(0, 1) steps, one step per look (equal looks).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from labs.experiments.distributions import normal_ppf
from labs.experiments.montecarlo import MonteCarloRate, rate_of
from labs.experiments.significance import two_proportion_ztest
from labs.experiments.validation import (
    check_open_unit,
    check_positive_int,
    check_probability,
)

BoundaryKind = Literal["naive", "pocock", "obrien_fleming"]
BOUNDARY_KINDS: tuple[str, ...] = get_args(BoundaryKind)
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def look_sizes(n_per_arm: int, n_looks: int) -> Ints:
    """Cumulative users per arm at each look: n·k/K rounded, k = 1..K."""
    check_positive_int("n_looks", n_looks)
    check_positive_int("n_per_arm", n_per_arm, minimum=n_looks)
    return np.round(n_per_arm * np.arange(1, n_looks + 1) / n_looks).astype(np.int64)


def simulate_z_paths(
    p_control: float,
    p_treatment: float,
    n_per_arm: int,
    n_looks: int,
    *,
    n_sims: int = 20_000,
    seed: int = 0,
) -> Floats:
    """Simulate experiments that are looked at ``n_looks`` times; return their z paths.

    Users arrive in ``n_looks`` equal batches per arm (:func:`look_sizes`). For
    each simulated experiment the clicks of each new batch are binomial,
    accumulated, and the m1 pooled z-test is applied to the running totals at
    every look. ``p_treatment == p_control`` simulates A/A tests (H0 true).

    Returns:
        z statistics, shape ``(n_sims, n_looks)``: row i is experiment i's path.
    """
    check_probability("p_control", p_control)
    check_probability("p_treatment", p_treatment)
    check_positive_int("n_sims", n_sims)
    sizes = look_sizes(n_per_arm, n_looks)  # (K,) cumulative users per arm
    batch = np.diff(sizes, prepend=0)  # (K,) new users per arm at each look
    rng = np.random.default_rng(seed)
    # BEGIN SOLUTION m3: binomial clicks per batch, running totals, the z-test at every look
    clicks_control = rng.binomial(batch, p_control, size=(n_sims, n_looks)).cumsum(
        axis=1
    )
    clicks_treatment = rng.binomial(batch, p_treatment, size=(n_sims, n_looks)).cumsum(
        axis=1
    )  # (n_sims, K) clicks so far
    result = two_proportion_ztest(clicks_control, sizes, clicks_treatment, sizes)
    return np.asarray(result.statistic, dtype=float)
    # END SOLUTION


def boundary_shape(n_looks: int, kind: BoundaryKind) -> Floats:
    """The shape s_k of the boundaries: 1 for naive and Pocock, sqrt(K/k) for OBF."""
    check_positive_int("n_looks", n_looks)
    if kind not in BOUNDARY_KINDS:
        raise ValueError(
            f"kind must be one of {', '.join(BOUNDARY_KINDS)}, got {kind!r}."
        )
    if kind == "obrien_fleming":
        return np.sqrt(n_looks / np.arange(1, n_looks + 1))
    return np.ones(n_looks)


def sequential_boundaries(
    n_looks: int,
    *,
    alpha: float = 0.05,
    kind: BoundaryKind = "obrien_fleming",
    n_calibration: int = 200_000,
    seed: int = 0,
) -> Floats:
    """Two-sided |z| boundaries for ``n_looks`` equally spaced looks.

    ``naive`` is the uncorrected rule (z_{1−α/2} at every look). ``pocock``
    and ``obrien_fleming`` are c·s_k (:func:`boundary_shape`) with c chosen
    so that, under H0, P(max_k |Z_k| / s_k >= c) = alpha: c is the
    (1 − alpha) quantile of max_k |Z_k| / s_k over ``n_calibration``
    simulated paths Z_k = S_k / sqrt(k) of a N(0, 1) random walk S. One look
    is the fixed-horizon test, c = z_{1−α/2} exactly.

    Returns:
        The boundary at each look, shape ``(n_looks,)``.
    """
    check_open_unit("alpha", alpha)
    check_positive_int("n_calibration", n_calibration, minimum=1_000)
    shape = boundary_shape(n_looks, kind)
    if kind == "naive" or n_looks == 1:
        return shape * normal_ppf(1.0 - alpha / 2.0)
    rng = np.random.default_rng(seed)
    # BEGIN SOLUTION m3: simulate N(0,1) random-walk z paths; c = (1 - alpha) quantile of max |Z_k|/s_k
    walk = rng.standard_normal((n_calibration, n_looks)).cumsum(axis=1)  # (N, K)
    z = walk / np.sqrt(np.arange(1, n_looks + 1))  # (N, K), Var(Z_k) = 1
    worst = np.max(np.abs(z) / shape, axis=1)  # (N,)
    return float(np.quantile(worst, 1.0 - alpha)) * shape
    # END SOLUTION


def _check_paths(
    z_paths: npt.ArrayLike, boundaries: npt.ArrayLike
) -> tuple[Floats, Floats]:
    z = np.asarray(z_paths, dtype=float)
    b = np.asarray(boundaries, dtype=float)
    if z.ndim != 2 or b.shape != (z.shape[1],):
        raise ValueError(
            f"z_paths must be (n_sims, n_looks) and boundaries (n_looks,); got "
            f"{z.shape} and {b.shape}. Build them with simulate_z_paths and "
            "sequential_boundaries for the same n_looks."
        )
    return z, b


def first_crossing(z_paths: npt.ArrayLike, boundaries: npt.ArrayLike) -> Ints:
    """The look (0-based) at which each path first has |z| >= its boundary; −1 if never.

    This is the rule "stop at the first significant look": a path that
    crosses at any look ends as a rejection of H0.
    """
    z, b = _check_paths(z_paths, boundaries)
    # BEGIN SOLUTION m3: the first column where |z| reaches the boundary, -1 for none
    crossed = np.abs(z) >= b  # (n_sims, K)
    first = np.argmax(crossed, axis=1)
    return np.where(crossed.any(axis=1), first, -1).astype(np.int64)
    # END SOLUTION


def crossing_rate(z_paths: npt.ArrayLike, boundaries: npt.ArrayLike) -> MonteCarloRate:
    """The share of paths that ever cross: the false-positive rate under H0, power under H1."""
    return rate_of(first_crossing(z_paths, boundaries) >= 0)


def expected_sample_fraction(
    z_paths: npt.ArrayLike, boundaries: npt.ArrayLike
) -> float:
    """Mean share of the planned users used before stopping (1 when never stopped early)."""
    first = first_crossing(z_paths, boundaries)
    n_looks = np.asarray(z_paths).shape[1]
    used = np.where(first >= 0, first + 1, n_looks) / n_looks
    return float(used.mean())


def independent_looks_formula(alpha: float, n_looks: int) -> float:
    """1 − (1 − alpha)^K: the false-positive rate if the K looks were independent.

    Shown beside the measured rate to make the point: the looks are
    correlated, so this overstates what peeking does.
    """
    check_open_unit("alpha", alpha)
    check_positive_int("n_looks", n_looks)
    return 1.0 - (1.0 - alpha) ** n_looks

"""Input checks shared by the experiments lab: bad input fails with a sentence.

Every public function of the lab validates its arguments here before any
statistics run, so a candidate's exercise code never has to, and a wrong call
says what was wrong, with the value, and what to pass instead.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES: tuple[str, ...] = get_args(Alternative)


def check_alternative(alternative: str) -> None:
    """Reject an alternative hypothesis that is not one of ``ALTERNATIVES``."""
    if alternative not in ALTERNATIVES:
        raise ValueError(
            f"alternative must be one of {', '.join(ALTERNATIVES)}, got "
            f"{alternative!r}; 'greater' tests treatment > control."
        )


def check_open_unit(name: str, value: float) -> None:
    """Reject a level (alpha, power, confidence) outside the open interval (0, 1)."""
    if not 0.0 < float(value) < 1.0:
        raise ValueError(
            f"{name} must be strictly between 0 and 1, got {value}; e.g. "
            f"{name}=0.05 for alpha, 0.8 for power, 0.95 for confidence."
        )


def check_probability(name: str, value: float) -> None:
    """Reject a rate outside the closed interval [0, 1]."""
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} is a probability and must be in [0, 1], got {value}.")


def check_positive_int(name: str, value: int, minimum: int = 1) -> None:
    """Reject a count that is not an integer of at least ``minimum``."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(
            f"{name} must be an integer of at least {minimum}, got {value!r}."
        )


def check_counts(
    name: str, successes: npt.ArrayLike, trials: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(successes, trials)`` as float arrays after checking 0 <= s <= n, n >= 1."""
    s = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if np.any(n < 1):
        raise ValueError(
            f"{name}: every sample size must be at least 1, got min "
            f"{n.min():g}; an arm with no users cannot be tested."
        )
    if np.any(s < 0) or np.any(s > n):
        raise ValueError(
            f"{name}: successes must lie in [0, n]; got successes in "
            f"[{s.min():g}, {s.max():g}] for sizes in [{n.min():g}, {n.max():g}]."
        )
    return s, n


def check_sample(name: str, values: npt.ArrayLike, axis: int = -1) -> np.ndarray:
    """Return a float array with at least 2 finite observations along ``axis``."""
    x = np.asarray(values, dtype=float)
    if x.ndim == 0:
        raise ValueError(f"{name} must be an array of observations, got a scalar {x}.")
    if x.shape[axis] < 2:
        raise ValueError(
            f"{name} needs at least 2 observations along axis {axis} to estimate a "
            f"variance, got shape {x.shape}."
        )
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise ValueError(
            f"{name} holds {bad} NaN or infinite values; drop or impute them "
            "explicitly before testing (nothing is dropped silently here)."
        )
    return x

"""Monte-Carlo rates with their standard errors (given, shared by the milestones).

Every simulated figure in this lab (achieved power, false-positive rate,
coverage) is a proportion of independent simulated experiments, so it comes
with its binomial standard error

    SE(p̂) = sqrt(p̂ (1 − p̂) / n_sims)

and a claim such as "achieved power within 2 points of 0.80" is only made when
2 points is several SEs: with 20,000 simulations at p = 0.8 the SE is 0.28
points, so 2 points is 7 SE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class MonteCarloRate:
    """A simulated proportion: ``rate`` of ``n`` trials, with its standard error."""

    rate: float
    n: int

    @property
    def se(self) -> float:
        """The binomial standard error sqrt(rate (1 − rate) / n)."""
        return math.sqrt(max(self.rate * (1.0 - self.rate), 0.0) / self.n)

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """The Wald interval rate ± z·SE, clipped to [0, 1]."""
        half = z * self.se
        return max(0.0, self.rate - half), min(1.0, self.rate + half)

    def __str__(self) -> str:
        return f"{self.rate:.4f} ± {self.se:.4f} (n={self.n:,})"


def rate_of(hits: npt.ArrayLike) -> MonteCarloRate:
    """The share of ``True`` in a boolean array of independent trials."""
    array = np.asarray(hits, dtype=bool)
    if array.size == 0:
        raise ValueError("a Monte-Carlo rate needs at least one trial; got none.")
    return MonteCarloRate(rate=float(array.mean()), n=int(array.size))

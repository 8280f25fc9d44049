"""Complexity from measurements: time a function at growing sizes, fit the slope (given).

    from labs.algorithms.complexity import Case, measure
    row = measure(case, scale=1.0)
    row["exponent"], row["expected_exponent"]     # e.g. 1.04 against 1.00 for O(n)

If a function costs ``c n^k``, then ``log t = log c + k log n``: on log-log
axes its times lie on a line of slope ``k``. ``fit_exponent`` fits that line
by least squares (``numpy.polyfit``). A log factor shows up as a slope a
little above the integer: ``n log n`` over n = 1,000 .. 16,000 has slope
1.11, not 1. So the expected slope is not the bare degree: it is the slope of
the complexity's own formula fitted over *the same sizes*
(``model_exponent``), which makes the two numbers comparable.

Timing follows ``timeit``'s habits: the garbage collector is off while a
sample runs, and each sample repeats the call until it lasts at least a few
milliseconds (so a 1 µs call is not all clock noise). The samples go round
the sizes in turn, and a size's time is the median of ``repeats`` samples.
On a busy machine slopes still wander by ±0.1 or more, and pointer-heavy
Python structures slope above their model once the data outgrows the CPU's
caches; the tests check results, never speed.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MODELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "log n": lambda n: np.log2(n),
    "n": lambda n: n.astype(float),
    "n log n": lambda n: n * np.log2(n),
    "n^2": lambda n: n.astype(float) ** 2,
}
DEGREE = {"log n": 0, "n": 1, "n log n": 1, "n^2": 2}
MIN_SAMPLE_S = 0.004  # repeat a call until a sample lasts this long


@dataclass(frozen=True)
class Case:
    """One function to time at growing sizes.

    Attributes:
        name: the figure's key (``kth_largest``, ``dijkstra_dense``).
        milestone: the lab milestone it belongs to (``m1``), for the plots.
        complexity: a key of ``MODELS``: the cost the docstring promises in n.
        sizes: the sizes n at scale 1 (the tiny preset).
        make: builds the input of size n from a seeded numpy generator.
        call: runs the function on that input (the part that is timed).
        n_means: what n counts, for the page ("list length", "budget W").
        versus: for a baseline, the lab function it is compared with; both
            are timed at the baseline's sizes and the page shows the ratio.
    """

    name: str
    milestone: str
    complexity: str
    sizes: tuple[int, ...]
    make: Callable[[int, np.random.Generator], Any]
    call: Callable[[Any], Any]
    n_means: str
    versus: str | None = None

    def sizes_at(self, scale: float) -> list[int]:
        """The sizes for a preset: ``scale`` times the work, whatever the degree."""
        grow = scale ** (1 / max(DEGREE[self.complexity], 1))
        return [max(2, round(n * grow)) for n in self.sizes]


def _calls_per_sample(call: Callable[[Any], Any], argument: Any) -> int:
    """How many calls make a sample of at least ``MIN_SAMPLE_S`` (one warm-up call)."""
    start = time.perf_counter()
    call(argument)
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, math.ceil(MIN_SAMPLE_S / once))


def _sample(call: Callable[[Any], Any], argument: Any, number: int) -> float:
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            call(argument)
        return (time.perf_counter() - start) / number
    finally:
        if enabled:
            gc.enable()


def seconds_per_call(
    call: Callable[[Any], Any], argument: Any, repeats: int = 3
) -> float:
    """The median over ``repeats`` samples of the time per ``call(argument)``."""
    number = _calls_per_sample(call, argument)
    return float(np.median([_sample(call, argument, number) for _ in range(repeats)]))


def fit_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """The least-squares slope of ``log seconds`` against ``log size``."""
    if len(sizes) < 2 or len(sizes) != len(seconds):
        raise ValueError(
            f"need at least two (size, seconds) points, got {len(sizes)} sizes and "
            f"{len(seconds)} times."
        )
    slope, _ = np.polyfit(np.log(np.asarray(sizes, float)), np.log(seconds), 1)
    return float(slope)


def model_exponent(complexity: str, sizes: Sequence[int]) -> float:
    """The slope the complexity formula itself has over ``sizes``."""
    if complexity not in MODELS:
        raise ValueError(f"unknown complexity {complexity!r}; one of {list(MODELS)}.")
    n = np.asarray(sizes)
    return fit_exponent(n, MODELS[complexity](n))


def time_at_sizes(
    case: Case, sizes: Sequence[int], repeats: int = 3, seed: int = 0
) -> list[float]:
    """Seconds per call of ``case`` at each size (inputs from a seeded generator).

    The samples go round the sizes in turn (small, ..., large, small, ...),
    so a burst of load from another process lands on several sizes instead
    of bending the curve at one of them; each size's time is the median.
    """
    arguments = [case.make(n, np.random.default_rng([seed, n])) for n in sizes]
    numbers = [_calls_per_sample(case.call, argument) for argument in arguments]
    samples: list[list[float]] = [[] for _ in sizes]
    for _ in range(repeats):
        for argument, number, out in zip(arguments, numbers, samples, strict=True):
            out.append(_sample(case.call, argument, number))
    return [float(np.median(out)) for out in samples]


def measure(
    case: Case, scale: float = 1.0, repeats: int = 3, seed: int = 0
) -> dict[str, Any]:
    """Time ``case`` at its sizes for ``scale``; fit and compare the exponent."""
    sizes = case.sizes_at(scale)
    seconds = time_at_sizes(case, sizes, repeats, seed)
    return {
        "milestone": case.milestone,
        "complexity": f"O({case.complexity})",
        "n_means": case.n_means,
        "sizes": sizes,
        "seconds": seconds,
        "exponent": fit_exponent(sizes, seconds),
        "expected_exponent": model_exponent(case.complexity, sizes),
        "largest_n": sizes[-1],
        "largest_s": seconds[-1],
    }


def predict_seconds(row: dict[str, Any], n: float) -> float:
    """Extrapolate a measured row to size ``n`` with its fitted exponent."""
    return row["largest_s"] * (n / row["largest_n"]) ** row["exponent"]

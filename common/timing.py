"""Timers and latency summaries shared by every lab.

Latencies are summarised as percentiles, never only a mean: the tail is what a
user feels and what an SLO is written against.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PERCENTILES = (50, 95, 99)


def summarize(samples_s: Iterable[float], unit: str = "ms") -> dict[str, float]:
    """p50/p95/p99/mean/max of durations given in seconds, in ``unit`` (ms or us).

    Percentiles use numpy's default linear interpolation.
    """
    scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
    values = np.asarray(list(samples_s), dtype=float) * scale
    if values.size == 0:
        raise ValueError("cannot summarise zero samples; run at least one timed call.")
    summary = {f"p{p}": float(np.percentile(values, p)) for p in PERCENTILES}
    summary.update(
        mean=float(values.mean()), max=float(values.max()), n=int(values.size)
    )
    return summary


def time_calls(fn: Callable[[], Any], n: int, warmup: int = 0) -> np.ndarray:
    """Call ``fn`` ``warmup`` times untimed, then ``n`` times; return each duration (s)."""
    for _ in range(warmup):
        fn()
    durations = np.empty(n)
    clock = time.perf_counter
    for i in range(n):
        start = clock()
        fn()
        durations[i] = clock() - start
    return durations


@dataclass
class Stopwatch:
    """Time named stages: ``with watch("join"): ...``; totals in seconds."""

    totals: dict[str, float] = field(default_factory=dict)

    def __call__(self, name: str) -> _Lap:
        return _Lap(self, name)


class _Lap:
    def __init__(self, watch: Stopwatch, name: str):
        self.watch, self.name = watch, name

    def __enter__(self) -> _Lap:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.start
        self.watch.totals[self.name] = self.watch.totals.get(self.name, 0.0) + elapsed

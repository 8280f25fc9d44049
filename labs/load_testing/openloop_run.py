"""Run the open-loop generator in its own process and read back what it measured.

    result = run_open_loop("http://127.0.0.1:8000", requests, rate=200, duration_s=5)
    result.ok_rps, result.p99_ms, result.failures, result.send_lag_ms

``run_open_loop`` checks its arguments, starts ``python -m
labs.load_testing.openloop`` (the generator; ``openloop.py`` says how it
keeps to its schedule) through ``infra/module_process.py``, waits at most
the run plus its timeout plus a start-up grace, and returns an
:class:`OpenLoopResult`: per-request arrays in request order, from which the
throughput and the percentiles are computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infra.http1 import check_loopback
from infra.module_process import run_module
from labs.load_testing.openloop import Arrival, arrival_schedule

STARTUP_GRACE_S = 30.0  # interpreter start-up and writing the result


@dataclass
class OpenLoopResult:
    """What one open-loop run measured; per-request arrays in request order.

    Attributes:
        rate: the offered rate (requests/s) and ``arrival`` its process.
        window_s: the scheduling window (``duration_s``).
        scheduled_s: when each request was due (s from the start).
        latency_s: from due time to the end of its answer or failure.
        ok: whether each request got a 2xx.
        failures: non-2xx and transport failures by kind (``http_503``,
            ``connect``, ``closed``, ``timeout``); every request is in ``ok``
            or here.
        send_lag_ms: how late the generator launched requests (p50/p99/max).
        connections: connections opened in all.
        cpu_s: the generator's CPU time.
    """

    url: str
    rate: float
    arrival: str
    window_s: float
    scheduled_s: np.ndarray
    latency_s: np.ndarray
    ok: np.ndarray
    failures: dict[str, int]
    send_lag_ms: dict[str, float] = field(default_factory=dict)
    connections: int = 0
    cpu_s: float = 0.0

    @property
    def sent(self) -> int:
        return int(self.scheduled_s.size)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def ok_latency_ms(self) -> np.ndarray:
        return self.latency_s[self.ok] * 1e3

    @property
    def ended_s(self) -> np.ndarray:
        return self.scheduled_s + self.latency_s

    @property
    def ok_rps(self) -> float:
        """2xx answers per second that *finished* inside the window."""
        inside = self.ok & (self.ended_s <= self.window_s)
        return float(inside.sum()) / self.window_s

    def percentile_ms(self, q: float) -> float:
        latencies = self.ok_latency_ms
        return float(np.percentile(latencies, q)) if latencies.size else math.nan

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p95_ms(self) -> float:
        return self.percentile_ms(95)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def mean_ms(self) -> float:
        latencies = self.ok_latency_ms
        return float(latencies.mean()) if latencies.size else math.nan


def run_open_loop(
    url: str,
    requests: Sequence[tuple[str, Any]],
    *,
    rate: float,
    duration_s: float = 5.0,
    max_requests: int = 200_000,
    arrival: Arrival = "constant",
    timeout_s: float = 5.0,
    max_connections: int = 256,
    seed: int = 0,
    cpu: int | None = None,
) -> OpenLoopResult:
    """Offer ``rate`` requests/s to ``url`` for ``duration_s`` from a subprocess.

    Args:
        url: ``http://127.0.0.1:<port>`` (loopback only).
        requests: ``(path, JSON body)`` pairs, sent in rotation.
        rate: arrivals per second; ``arrival`` their process.
        duration_s, max_requests: the schedule's bounds (whichever first).
        timeout_s: a request not answered this long after it was due is a
            ``timeout`` failure; the run ends at most ``timeout_s`` after
            the last request was due.
        max_connections: keep-alive connections the generator may open; a
            request due when all are busy waits for one (and is charged).
        cpu: pin the generator to this core (Linux).

    Raises:
        ValueError: a non-loopback host or nonsensical bounds.
        ModuleProcessError: the generator overran its bound
            (``ModuleTimedOut``), crashed (``ModuleExited``, with its output)
            or wrote no result; see ``infra/module_process.py``.
    """
    check_loopback(url)
    if not requests or timeout_s <= 0 or max_connections < 1:
        raise ValueError(
            f"need at least one request, timeout_s > 0 and max_connections ≥ 1; got "
            f"{len(requests)} requests, {timeout_s}, {max_connections}."
        )
    arrival_schedule(rate, duration_s, max_requests, arrival, seed)  # validates
    spec = {
        "url": url,
        "requests": [[path, body] for path, body in requests],
        "rate": rate,
        "duration_s": duration_s,
        "max_requests": max_requests,
        "arrival": arrival,
        "timeout_s": timeout_s,
        "max_connections": max_connections,
        "seed": seed,
    }
    bound = duration_s + timeout_s + STARTUP_GRACE_S
    raw = run_module(
        "labs.load_testing.openloop", spec, name="the open-loop generator",
        timeout_s=bound, cpu=cpu,
    )  # fmt: skip
    return OpenLoopResult(
        url=url,
        rate=rate,
        arrival=arrival,
        window_s=duration_s,
        scheduled_s=np.asarray(raw["scheduled_s"], dtype=np.float64),
        latency_s=np.asarray(raw["latency_s"], dtype=np.float64),
        ok=np.asarray(raw["ok"], dtype=bool),
        failures=raw["failures"],
        send_lag_ms=raw["send_lag_ms"],
        connections=raw["connections"],
        cpu_s=raw["cpu_s"],
    )

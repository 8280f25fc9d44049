"""The capacity sweep: step the offered load, find the knee, check Little's law.

    sweep = capacity_sweep(url, requests, rates=[100, 200, 400, 800], duration_s=5)
    knee = find_knee(sweep.steps, slo_ms=50)      # the highest rate that meets the SLO
    knee.offered_rps, knee.p99_ms, knee.littles_error

Each step is one open-loop run at a fixed arrival rate (``openloop.py``).
Latency against load has a knee: below it the server keeps up and latency
is its service time; above it requests queue and latency grows without
bound (for a single M/M/1 server the wait is ``ρ / (1 − ρ)`` service times,
with ρ the utilisation). **Capacity at an SLO** is the highest offered rate
whose p99 is within the SLO and whose errors are within the error budget,
with every lower step meeting it too (a step that passes above a failing
one is noise, not capacity).

**Little's law**, ``L = λ W``, holds for any stable queue: the mean number of
requests in flight ``L`` equals the throughput ``λ`` times the mean time in
the system ``W``. Each step checks it with ``L`` measured independently,
as the time average of the in-flight count over the window, against
``λ × W`` from the requests that finished in it. Agreement within
``LITTLE_TOLERANCE`` says the instrument is consistent; a large error above
the knee says the step never reached a steady state (the queue was still
growing when the window closed).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from infra.loadgen import run_load
from labs.load_testing.openloop import Arrival
from labs.load_testing.openloop_run import OpenLoopResult, run_open_loop

if TYPE_CHECKING:
    from labs.load_testing.knee_search import KneeSearch

log = logging.getLogger(__name__)

LITTLE_TOLERANCE = 0.10  # |L − λW| / L allowed on a steady step
MAX_ERROR_RATE = 0.01  # the error budget: failed / sent at most this
STOP_P99_FACTOR = 10.0  # stop sweeping once p99 passes this many SLOs
# A step that misses the SLO while the generator's send lag p99 exceeds
# LATE_FRACTION × SLO (another process held its core) is re-run, at most
# MAX_RERUNS times.
LATE_FRACTION = 0.25
MAX_RERUNS = 2
STEP_DOWN = 0.4  # when even the lowest rate misses the SLO, try this fraction of it


def time_average_in_flight(
    starts: np.ndarray, ends: np.ndarray, window_s: float
) -> float:
    """``L``: the mean number of requests in flight over ``[0, window_s]``.

    ``L = (1 / T) ∫₀ᵀ N(t) dt`` where ``N(t)`` counts requests with
    ``start ≤ t < end``; the integral is the total overlap of each
    ``[start, end)`` with the window: ``Σ max(0, min(end, T) − max(start, 0))``.
    """
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    if starts.shape != ends.shape:
        raise ValueError(
            f"starts and ends differ in shape: {starts.shape} vs {ends.shape}."
        )
    if not window_s > 0:
        raise ValueError(f"window_s must be > 0, got {window_s}.")
    if (ends < starts).any():
        raise ValueError("a request ends before it starts; pass (start, end) pairs.")
    # BEGIN SOLUTION m3: the total overlap of every [start, end) with [0, window_s], divided by window_s
    overlap = np.minimum(ends, window_s) - np.maximum(starts, 0.0)
    return float(np.clip(overlap, 0.0, None).sum() / window_s)
    # END SOLUTION


def littles_law_error(in_flight: float, throughput: float, latency_s: float) -> float:
    """``|L − λW| / L``: how far a measurement is from Little's law (0 = exact)."""
    # BEGIN SOLUTION m3: the relative gap between L and λ × W, relative to L (0 when all three are 0, inf when only L is 0)
    predicted = throughput * latency_s
    if in_flight == 0:
        return 0.0 if predicted == 0 else math.inf
    return abs(in_flight - predicted) / in_flight
    # END SOLUTION


@dataclass
class Step:
    """One offered rate and what it got (the client's view)."""

    offered_rps: float
    throughput_rps: float  # 2xx answers finished inside the window, per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    error_rate: float  # failed / sent
    in_flight: float  # L, time-averaged
    littles_error: float
    send_lag_p99_ms: float
    server_cpu: float = math.nan  # server CPU-seconds per second (1.0 = one core)
    server_runq: float = math.nan  # seconds per second the server waited for a core
    runs: int = 1  # > 1 when earlier runs were re-done (the generator was late)
    latencies_ms: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def meets(self, slo_ms: float, max_error_rate: float = MAX_ERROR_RATE) -> bool:
        """p99 within the SLO and errors within the budget."""
        return bool(self.p99_ms <= slo_ms) and self.error_rate <= max_error_rate

    def row(self) -> dict[str, Any]:
        return {
            "offered rps": self.offered_rps,
            "throughput rps": self.throughput_rps,
            "p50 ms": self.p50_ms,
            "p99 ms": self.p99_ms,
            "mean ms": self.mean_ms,
            "errors %": round(100 * self.error_rate, 2),
            "in flight L": self.in_flight,
            "Little error %": round(100 * self.littles_error, 2),
            "send lag p99 ms": self.send_lag_p99_ms,
            "server CPU": self.server_cpu,
            "server run-queue": self.server_runq,
            "runs": self.runs,
        }


def step_from(
    result: OpenLoopResult, server_cpu: float = math.nan, server_runq: float = math.nan
) -> Step:
    """Summarise one open-loop run; ``L`` and Little's law from its per-request times.

    ``λ`` and ``W`` come from the requests (any outcome) that finished inside the
    window; ``L`` from every request's overlap with the window.
    """
    ends = result.ended_s
    done = ends <= result.window_s
    throughput_all = float(done.sum()) / result.window_s
    mean_latency = float(result.latency_s[done].mean()) if done.any() else 0.0
    in_flight = time_average_in_flight(result.scheduled_s, ends, result.window_s)
    return Step(
        offered_rps=result.rate,
        throughput_rps=result.ok_rps,
        p50_ms=result.p50_ms,
        p95_ms=result.p95_ms,
        p99_ms=result.p99_ms,
        mean_ms=result.mean_ms,
        error_rate=result.failed / result.sent if result.sent else 0.0,
        in_flight=in_flight,
        littles_error=littles_law_error(in_flight, throughput_all, mean_latency),
        send_lag_p99_ms=float(result.send_lag_ms.get("p99", math.nan)),
        server_cpu=server_cpu,
        server_runq=server_runq,
        latencies_ms=result.ok_latency_ms,
    )


def find_knee(
    steps: Sequence[Step], slo_ms: float, max_error_rate: float = MAX_ERROR_RATE
) -> Step | None:
    """The highest-rate step that meets the SLO with every lower-rate step meeting it too.

    Returns:
        That step, or ``None`` if the lowest rate already misses the SLO.
    """
    if not slo_ms > 0:
        raise ValueError(f"slo_ms must be > 0, got {slo_ms}.")
    # BEGIN SOLUTION m3: walk the steps by increasing offered rate; keep the last one that meets the SLO (Step.meets) and stop at the first that misses
    knee = None
    for step in sorted(steps, key=lambda s: s.offered_rps):
        if not step.meets(slo_ms, max_error_rate):
            break
        knee = step
    return knee
    # END SOLUTION


@dataclass
class Sweep:
    """A capacity sweep of one server: its steps and the knee at ``slo_ms``."""

    slo_ms: float
    steps: list[Step]
    closed_loop: dict[str, Any] = field(default_factory=dict)  # the probe
    search: KneeSearch | None = None  # set when the knee was found by bisection

    @property
    def knee(self) -> Step | None:
        return find_knee(self.steps, self.slo_ms)

    def steady_littles_error(self) -> float:
        """The largest Little's-law error over the steps at or below the knee."""
        knee = self.knee
        steady = [s for s in self.steps if knee and s.offered_rps <= knee.offered_rps]
        return max((s.littles_error for s in steady), default=math.nan)


def process_cpu_s(pid: int | None) -> tuple[float, float]:
    """``(CPU seconds, run-queue seconds)`` so far of ``pid`` and its children.

    The first is time on a core (user + system); the second the time its
    threads were runnable but waiting for a core (Linux
    ``/proc/<pid>/task/<tid>/schedstat``; NaN elsewhere). Both NaN without a pid.
    """
    if pid is None:
        return math.nan, math.nan
    try:
        import psutil

        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except Exception:  # figures we can do without
        return math.nan, math.nan
    cpu, runq = 0.0, 0.0
    for proc in procs:
        with contextlib.suppress(Exception):
            times = proc.cpu_times()
            cpu += times.user + times.system
        runq += _runqueue_s(proc.pid)
    return cpu, runq


def _runqueue_s(pid: int) -> float:
    total = 0.0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int((task / "schedstat").read_text().split()[1]) / 1e9
    except OSError:
        return math.nan
    return total


def probe_capacity(
    url: str,
    requests: Sequence[tuple[str, Any]],
    *,
    concurrency: int = 16,
    duration_s: float = 2.0,
    cpu: int | None = None,
) -> dict[str, Any]:
    """Closed-loop runs, one per route: roughly where the knee of the mix is.

    Each route is loaded alone at ``concurrency``; its throughput ``X_r``
    is its cost. The mix (share ``w_r`` of each route) then takes about
    ``1 / Σ (w_r / X_r)`` requests/s. Little's law is checked on each run,
    where ``L`` is the concurrency itself: ``|N − X W| / N``.
    """
    by_path: dict[str, list[Any]] = {}
    for path, body in requests:
        by_path.setdefault(path, []).append(body)
    routes: dict[str, dict[str, float]] = {}
    for path, bodies in by_path.items():
        result = run_load(
            url, path, bodies, concurrency=concurrency, duration_s=duration_s,
            warmup_s=0.5, cpu=cpu,
        )  # fmt: skip
        mean_s = result.latency_ms.get("mean", math.nan) / 1e3
        routes[path] = {
            "share": len(bodies) / len(requests),
            "rps": result.ok_rps,
            "p99_ms": result.p99_ms,
            "failed": result.failed,
            "littles_error": littles_law_error(concurrency, result.rps, mean_s),
        }
    cost = sum(r["share"] / r["rps"] for r in routes.values() if r["rps"] > 0)
    return {
        "concurrency": concurrency,
        "rps": 1.0 / cost if cost > 0 else 0.0,
        "p99_ms": max(r["p99_ms"] for r in routes.values()),
        "littles_error": max(r["littles_error"] for r in routes.values()),
        "routes": routes,
    }


def capacity_sweep(
    url: str,
    requests: Sequence[tuple[str, Any]],
    rates: Sequence[float],
    *,
    slo_ms: float,
    duration_s: float = 5.0,
    arrival: Arrival = "constant",
    timeout_s: float = 5.0,
    server_pid: int | None = None,
    cpu: int | None = None,
    stop_early: bool = True,
    rerun_late: bool = True,
    max_extra: int = 0,
    extend_factor: float = 1.3,
) -> Sweep:
    """One open-loop step per rate (increasing); stop once far past the knee.

    A step with p99 above ``STOP_P99_FACTOR × slo_ms`` or more than half its
    requests failed ends the sweep: every higher rate would only queue more.
    A step that missed the SLO while the generator itself launched requests
    late (send lag p99 above ``LATE_FRACTION × slo_ms``: the machine took its
    core away) is measured again, up to ``MAX_RERUNS`` times, and the last
    run counts (``Step.runs`` says so). If the highest rate still meets the
    SLO, up to ``max_extra`` more steps follow, each ``extend_factor`` higher;
    if even the lowest rate misses it, the sweep steps down (``STEP_DOWN``)
    instead, within the same ``max_extra`` budget.
    """
    steps: list[Step] = []
    queue = sorted(rates)
    extra = 0
    while queue:
        rate = queue.pop(0)
        step = measure_step(
            url, requests, rate, duration_s, arrival, timeout_s, server_pid, cpu
        )
        while (
            rerun_late
            and step.runs <= MAX_RERUNS
            and step.send_lag_p99_ms > LATE_FRACTION * slo_ms
            and not step.meets(slo_ms)
        ):
            log.info(
                "%.0f rps: generator late (%.0f ms), again", rate, step.send_lag_p99_ms
            )
            runs = step.runs + 1
            step = measure_step(
                url, requests, rate, duration_s, arrival, timeout_s, server_pid, cpu
            )
            step.runs = runs
        steps.append(step)
        log.info(
            "offered %.0f rps: %.0f rps, p99 %.1f ms, errors %.1f%%, Little %.1f%%",
            rate, step.throughput_rps, step.p99_ms, 100 * step.error_rate,
            100 * step.littles_error,
        )  # fmt: skip
        lowest = rate <= min(s.offered_rps for s in steps)
        if lowest and not step.meets(slo_ms) and extra < max_extra:
            # Even the lowest rate missed the SLO: the knee is further down.
            queue = [round(rate * STEP_DOWN, 1), *[r for r in queue if r < rate]]
            extra += 1
            continue
        far = step.p99_ms > STOP_P99_FACTOR * slo_ms or step.error_rate > 0.5
        if stop_early and far:
            break
        if not queue and extra < max_extra and step.meets(slo_ms):
            # The highest rate so far met the SLO: the knee is further up.
            queue.append(round(rate * extend_factor, 1))
            extra += 1
    return Sweep(slo_ms, sorted(steps, key=lambda s: s.offered_rps))


def measure_step(
    url: str,
    requests: Sequence[tuple[str, Any]],
    rate: float,
    duration_s: float,
    arrival: Arrival,
    timeout_s: float,
    server_pid: int | None,
    cpu: int | None,
) -> Step:
    """One open-loop run at ``rate``, with the server's CPU and run-queue share."""
    cpu_before, runq_before = process_cpu_s(server_pid)
    result = run_open_loop(
        url, requests, rate=rate, duration_s=duration_s, arrival=arrival,
        timeout_s=timeout_s, cpu=cpu, max_requests=int(rate * duration_s) + 1,
    )  # fmt: skip
    cpu_after, runq_after = process_cpu_s(server_pid)
    busy_s = duration_s + result.latency_s.max(initial=0)  # sending, then draining
    return step_from(
        result,
        server_cpu=(cpu_after - cpu_before) / busy_s,
        server_runq=(runq_after - runq_before) / busy_s,
    )

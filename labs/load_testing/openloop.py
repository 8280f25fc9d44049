"""Open-loop load: requests leave on a schedule, whether or not earlier ones returned.

    offsets = arrival_schedule(rate=200, duration_s=5, max_requests=10_000)
    result = run_open_loop("http://127.0.0.1:8000", requests, rate=200, duration_s=5)
    result.ok_rps, result.p99_ms, result.failures, result.send_lag_ms  # openloop_run.py

A closed-loop client (locust, ``infra/loadgen.py``) sends its next request
only after the previous answer. When the server stalls, the client stalls
with it and *stops offering load*: the requests it would have sent during
the stall are never sent, so never timed. Its p99 describes the few requests
that waited, not the many users who would have. This is coordinated
omission (Gil Tene; wrk2).

Here arrivals follow a schedule fixed in advance: ``constant`` (every
``1/rate`` s) or ``poisson`` (exponential gaps, mean ``1/rate``, what many
independent users look like). Request ``i`` is due at ``t0 + offset[i]``;
it is launched then, on an idle keep-alive connection or a new one, and its
latency is measured **from that scheduled time**, so a request delayed by a
busy server, by the generator itself or by a lack of connections is charged
with the whole delay. ``send_lag_ms`` says how late the generator itself
launched requests: when it is large, the generator, not the server, was the
bottleneck, and no figure of that run should be trusted.

This module is the generator: the schedule, and the process that keeps to
it (``python -m labs.load_testing.openloop --spec SPEC --out OUT``: asyncio
with uvloop, raw HTTP/1.1 from ``infra/http1.py``, connections from
``connection_pool.py``). ``run_open_loop`` in ``openloop_run.py`` starts it,
bounded by ``duration_s`` and ``max_requests``; each request gets at most
``timeout_s``; loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from infra.cpus import cpu_seconds
from infra.http1 import (
    NoResponse,
    check_loopback,
    encode_request,
    read_response,
)
from infra.module_process import module_main
from labs.load_testing.connection_pool import ConnectionPool

Arrival = Literal["constant", "poisson"]
LEAD_S = 0.1  # the schedule starts this long after the connections are warm
WARM_CONNECTIONS = 8  # opened before the first request is due


def arrival_schedule(
    rate: float,
    duration_s: float,
    max_requests: int,
    arrival: Arrival = "constant",
    seed: int = 0,
) -> np.ndarray:
    """Send offsets (seconds from the start), sorted, all ``< duration_s``.

    ``constant``: ``i / rate`` for ``i = 0, 1, ...``. ``poisson``: a Poisson
    process, i.e. cumulative sums of exponential gaps of mean ``1 / rate``
    (the first arrival after one gap). Either way at most ``max_requests``.

    Returns:
        float64 ``(n,)`` with ``n ≈ rate × duration_s`` (exactly
        ``ceil(rate × duration_s)`` for ``constant``, capped).
    """
    if not (rate > 0 and math.isfinite(rate)) or not duration_s > 0 or max_requests < 0:
        raise ValueError(
            f"need rate > 0, duration_s > 0 and max_requests ≥ 0; got {rate}, "
            f"{duration_s}, {max_requests}."
        )
    if arrival not in ("constant", "poisson"):
        raise ValueError(f"arrival must be 'constant' or 'poisson', got {arrival!r}.")
    # BEGIN SOLUTION m2: constant: i / rate while < duration_s; poisson: cumulative sums of rng.exponential(1 / rate) gaps while < duration_s; cap both at max_requests
    if arrival == "constant":
        n = math.ceil(rate * duration_s - 1e-9)
        offsets = np.arange(n, dtype=np.float64) / rate
        offsets = offsets[offsets < duration_s]
    else:
        rng = np.random.default_rng(seed)
        expected = rate * duration_s
        chunk = int(expected + 10 * math.sqrt(expected) + 10)
        gaps = rng.exponential(1.0 / rate, chunk)
        while gaps.sum() < duration_s:  # rare: draw more until past the end
            gaps = np.concatenate([gaps, rng.exponential(1.0 / rate, chunk)])
        offsets = np.cumsum(gaps)
        offsets = offsets[offsets < duration_s]
    return offsets[:max_requests]
    # END SOLUTION


class _Run:
    """The state of one run: the schedule, the pool and what each request got."""

    def __init__(self, spec: dict[str, Any]):
        host, port = check_loopback(spec["url"])
        self.requests = [
            encode_request(host, port, path, "POST", body)
            for path, body in spec["requests"]
        ]
        self.offsets = arrival_schedule(
            float(spec["rate"]),
            float(spec["duration_s"]),
            int(spec["max_requests"]),
            spec["arrival"],
            int(spec["seed"]),
        )
        n = self.offsets.size
        self.timeout_s = float(spec["timeout_s"])
        self.pool = ConnectionPool(host, port, int(spec["max_connections"]))
        self.latency = np.full(n, np.nan)
        self.lag = np.zeros(n)
        self.ok = np.zeros(n, dtype=bool)
        self.failures: dict[str, int] = {}
        self.t0 = 0.0

    def fail(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1

    async def exchange(self, request: bytes) -> int:
        """Send one request on a pooled connection; its HTTP status."""
        for attempt in range(2):
            conn = await self.pool.acquire()
            try:
                conn[1].write(request)
                status, closes, _, _ = await read_response(conn[0], None)
            except NoResponse:
                # Not a byte back: typically a kept-alive connection the server had
                # closed while idle; the request never reached it, so send it once more.
                self.pool.discard(conn)
                if attempt == 0:
                    continue
                raise
            except BaseException:
                self.pool.discard(conn)
                raise
            if closes:
                self.pool.discard(conn)
            else:
                self.pool.release(conn)
            return status
        raise NoResponse("the server closed two connections in a row")

    async def fire(self, i: int, due: float) -> None:
        """Request ``i``: launched at (or after) ``due``, timed from ``due``."""
        clock = time.perf_counter
        self.lag[i] = clock() - due
        request = self.requests[i % len(self.requests)]
        try:
            status = await asyncio.wait_for(
                self.exchange(request), self.timeout_s - self.lag[i]
            )
        except (asyncio.TimeoutError, TimeoutError):
            self.fail("timeout")
        except NoResponse:
            self.fail("closed")
        except ConnectionRefusedError:
            self.fail("connect")
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.fail("closed")
        else:
            if 200 <= status < 300:
                self.ok[i] = True
            else:
                self.fail(f"http_{status}")
        self.latency[i] = clock() - due

    async def dispatch(self) -> None:
        """Launch every request at its due time ``t0 + offsets[i]``; wait for all."""
        clock = time.perf_counter
        offsets, t0 = self.offsets, self.t0
        tasks: set[asyncio.Task[None]] = set()
        # BEGIN SOLUTION m2: launch each request as a task (self.fire(i, due)) as soon as it is due, never waiting for earlier answers; sleep until the next due time; then gather every task
        i, n = 0, offsets.size
        while i < n:
            now = clock()
            while i < n and t0 + offsets[i] <= now:
                task = asyncio.create_task(self.fire(i, t0 + offsets[i]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            if i < n:
                await asyncio.sleep(max(0.0, t0 + offsets[i] - clock()))
        await asyncio.gather(*tasks)
        # END SOLUTION


async def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the open loop described by ``spec``; the JSON-able result."""
    run = _Run(spec)
    cpu_before = cpu_seconds()
    warm = []
    with contextlib.suppress(OSError):
        for _ in range(min(WARM_CONNECTIONS, run.pool.limit)):
            warm.append(await run.pool.connect())
    for conn in warm:
        run.pool.release(conn)
    run.t0 = time.perf_counter() + LEAD_S
    try:
        await run.dispatch()
    finally:
        run.pool.close()
    lag_ms = run.lag * 1e3
    return {
        "scheduled_s": np.round(run.offsets, 6).tolist(),
        "latency_s": np.round(run.latency, 6).tolist(),
        "ok": run.ok.tolist(),
        "failures": run.failures,
        "send_lag_ms": {
            "p50": float(np.percentile(lag_ms, 50)) if lag_ms.size else 0.0,
            "p99": float(np.percentile(lag_ms, 99)) if lag_ms.size else 0.0,
            "max": float(lag_ms.max()) if lag_ms.size else 0.0,
        },
        "connections": run.pool.opened,
        "cpu_s": cpu_seconds() - cpu_before,
    }


def main(argv: Sequence[str] | None = None) -> int:
    return module_main(generate, argv, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())

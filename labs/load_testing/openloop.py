"""Open-loop load: requests leave on a schedule, whether or not earlier ones returned.

    result = run_open_loop("http://127.0.0.1:8000", requests, rate=200, duration_s=5)
    result.ok_rps, result.p99_ms, result.failures, result.send_lag_ms

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

The generator runs in its own process (``python -m labs.load_testing.openloop``,
asyncio with uvloop, raw HTTP/1.1), bounded by ``duration_s`` and
``max_requests``; each request gets at most ``timeout_s``; loopback only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from common.paths import REPO_ROOT
from infra.loadgen import (
    NoResponse,
    check_loopback,
    cpu_seconds,
    read_response,
    spec_main,
)
from infra.processes import OwnedProcess

Arrival = Literal["constant", "poisson"]
STARTUP_GRACE_S = 30.0  # interpreter start-up and writing the result
LEAD_S = 0.1  # the schedule starts this long after the connections are warm
WARM_CONNECTIONS = 8  # opened before the first request is due


class OpenLoopError(RuntimeError):
    """The open-loop generator crashed or did not finish in time."""


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
        OpenLoopError: the generator crashed or overran its bound.
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
        "cpu": cpu,
    }
    with tempfile.TemporaryDirectory(prefix="labkit-openloop-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec))
        pythonpath = os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
        process = OwnedProcess.start(
            [sys.executable, "-m", "labs.load_testing.openloop",
             "--spec", str(spec_path), "--out", str(out_path)],
            "openloop",
            Path(tmp) / "openloop.log",
            env={**os.environ, "PYTHONPATH": pythonpath},
        )  # fmt: skip
        bound = duration_s + timeout_s + STARTUP_GRACE_S
        try:
            process.proc.wait(timeout=bound)
        except Exception:
            raise OpenLoopError(
                f"the open-loop generator did not finish within {bound:.0f} s:\n"
                f"{process.log_tail()}"
            ) from None
        finally:
            process.stop(grace_s=2.0)
        if process.proc.returncode != 0 or not out_path.exists():
            raise OpenLoopError(
                f"the open-loop generator exited with {process.proc.returncode}:\n"
                f"{process.log_tail()}"
            )
        raw = json.loads(out_path.read_text())
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


# --- the generator itself (runs in the subprocess) ------------------------------------


def encode(host: str, port: int, requests: Sequence[Sequence[Any]]) -> list[bytes]:
    """Every ``(path, body)`` as ready-to-write HTTP/1.1 POST bytes (keep-alive)."""
    out = []
    for path, body in requests:
        data = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        out.append(head.encode() + data)
    return out


class _Pool:
    """Keep-alive connections: reuse an idle one, open one under the limit, or wait."""

    def __init__(self, host: str, port: int, limit: int):
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0
        self.opened = 0
        self.waiters: collections.deque[asyncio.Future[Any]] = collections.deque()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.open += 1
        self.opened += 1
        try:
            return await asyncio.open_connection(self.host, self.port)
        except BaseException:
            self.open -= 1
            self._wake_one(None)
            raise

    async def acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle:
            return self.idle.pop()
        if self.open < self.limit:
            return await self._connect()
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            conn = await waiter
        except asyncio.CancelledError:
            # Timed out just as a connection (or a free slot) was handed over:
            # pass it on rather than lose it.
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()
                if handed is not None:
                    self.release(handed)
                else:
                    self._wake_one(None)
            raise
        return conn if conn is not None else await self._connect()

    def _wake_one(self, conn: Any) -> bool:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    def release(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        if not self._wake_one(conn):
            self.idle.append(conn)

    def discard(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        conn[1].transport.abort()
        self.open -= 1
        self._wake_one(None)

    def close(self) -> None:
        for _, writer in self.idle:
            writer.transport.abort()


class _Run:
    """The state of one run: the schedule, the pool and what each request got."""

    def __init__(self, spec: dict[str, Any]):
        host, port = check_loopback(spec["url"])
        self.requests = encode(host, port, spec["requests"])
        self.offsets = arrival_schedule(
            float(spec["rate"]),
            float(spec["duration_s"]),
            int(spec["max_requests"]),
            spec["arrival"],
            int(spec["seed"]),
        )
        n = self.offsets.size
        self.timeout_s = float(spec["timeout_s"])
        self.pool = _Pool(host, port, int(spec["max_connections"]))
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
            warm.append(await run.pool._connect())
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
    return spec_main(generate, argv, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())

"""The closed-loop load generator's own process: ``concurrency`` workers, back to back.

    python -m infra.closed_loop --spec SPEC.json --out RESULT.json [--cpu 1]

Started by :func:`infra.loadgen.run_load` (which documents the options and
the result); run by hand only to debug it. Each worker holds one keep-alive
connection to 127.0.0.1 and sends its next request as soon as the previous
one is answered, timing each with its own ``time.perf_counter`` pair. Every
attempt is counted, in the :class:`Recorder`: 2xx responses, other statuses
(``http_503``) and transport failures (``connect``, ``closed``,
``timeout``); requests that start during the warm-up are sent but not
recorded. The run stops at ``duration_s`` or ``max_requests``, whichever
comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence
from typing import Any

from infra.cpus import cpu_seconds
from infra.http1 import (
    NoResponse,
    check_loopback,
    encode_request,
    read_response,
)
from infra.module_process import module_main

MAX_RETRY_AFTER_S = 10.0  # the longest Retry-After a polite worker honours


class Recorder:
    """Outcomes and latencies of the measured window (single-threaded: no locks)."""

    def __init__(self, measure_from: float, max_requests: int):
        self.measure_from = measure_from
        self.remaining = max_requests
        self.ok_latency: list[float] = []
        self.rejected_latency: list[float] = []
        self.status: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.headers: dict[str, int] = {}
        self.warmup = 0
        self.reconnects = 0  # requests re-sent after a stale keep-alive connection
        self.last_end = measure_from

    def measuring(self, start: float) -> bool:
        return start >= self.measure_from

    def response(
        self, start: float, end: float, status: int, counted: bytes | None
    ) -> None:
        if not self.measuring(start):
            self.warmup += 1
            return
        self.last_end = max(self.last_end, end)
        self.status[str(status)] = self.status.get(str(status), 0) + 1
        if 200 <= status < 300:
            self.ok_latency.append(end - start)
            if counted is not None:
                value = counted.decode(errors="replace")
                self.headers[value] = self.headers.get(value, 0) + 1
        else:
            self.rejected_latency.append(end - start)
            kind = f"http_{status}"
            self.failures[kind] = self.failures.get(kind, 0) + 1

    def failure(self, start: float, end: float, kind: str) -> None:
        if not self.measuring(start):
            self.warmup += 1
            return
        self.last_end = max(self.last_end, end)
        self.failures[kind] = self.failures.get(kind, 0) + 1


class _Connection:
    """One keep-alive connection and whether it has already carried a response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer, self.reused = reader, writer, False

    def abort(self) -> None:
        self.writer.transport.abort()


async def _worker(
    index: int,
    host: str,
    port: int,
    requests: list[bytes],
    spec: dict[str, Any],
    rec: Recorder,
    deadline: float,
) -> None:
    """Send requests back to back on one connection until the run's bounds are hit.

    A server may close an idle keep-alive connection between two requests (or
    after an error response); a request that then gets no byte back on a
    *reused* connection never reached the application, so it is re-sent once
    on a new connection and counted in ``reconnects``, as HTTP clients do.
    Every other error is a failure of that request.
    """
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    timeout_s = float(spec["timeout_s"])
    header = (spec.get("count_header") or "").lower().encode() or None
    honour = bool(spec.get("honour_retry_after"))
    position = index * max(1, len(requests) // int(spec["concurrency"]))
    conn: _Connection | None = None
    while True:
        start = clock()
        if start >= deadline:
            break
        if rec.measuring(start):
            if rec.remaining <= 0:
                break
            rec.remaining -= 1
        request = requests[position % len(requests)]
        position += 1
        for _attempt in range(2):
            if conn is None:
                try:
                    conn = _Connection(
                        *await asyncio.wait_for(
                            asyncio.open_connection(host, port), timeout_s
                        )
                    )
                except (OSError, asyncio.TimeoutError) as exc:
                    timed_out = isinstance(exc, asyncio.TimeoutError)
                    rec.failure(start, clock(), "timeout" if timed_out else "connect")
                    await asyncio.sleep(0)  # a refused connect must not starve the rest
                    break
            expired = False

            def abort(c: _Connection = conn) -> None:
                nonlocal expired
                expired = True
                c.abort()

            timer = loop.call_later(timeout_s, abort)  # cheaper than a wait_for task
            try:
                conn.writer.write(request)
                status, closes, counted, retry_after = await read_response(
                    conn.reader, header
                )
            except NoResponse:
                stale = conn.reused and not expired
                conn.abort()
                conn = None
                if stale:
                    rec.reconnects += 1
                    continue  # re-send once on a fresh connection
                rec.failure(start, clock(), "timeout" if expired else "closed")
                break
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
            ):
                rec.failure(start, clock(), "timeout" if expired else "closed")
                conn.abort()
                conn = None
                break
            finally:
                timer.cancel()
            rec.response(start, clock(), status, counted)
            conn.reused = True
            if closes:
                conn.writer.close()
                conn = None
            if retry_after is not None and honour:
                # A polite client waits as told (never past the end of the run).
                pause = min(retry_after, MAX_RETRY_AFTER_S, deadline - clock())
                if pause > 0:
                    await asyncio.sleep(pause)
            break
    if conn is not None:
        conn.writer.close()
        with contextlib.suppress(Exception):
            await conn.writer.wait_closed()


def _summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    import numpy as np

    ms = np.asarray(samples) * 1e3
    return {
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "mean": float(ms.mean()),
        "max": float(ms.max()),
    }


async def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the closed loop described by ``spec``; the JSON-able result."""
    host, port = check_loopback(spec["url"])
    payloads = spec.get("payloads")
    requests = [
        encode_request(host, port, spec["path"], spec["method"], payload)
        for payload in (payloads if payloads is not None else [None])
    ]
    cpu_before = cpu_seconds()
    begin = time.perf_counter()
    measure_from = begin + float(spec.get("warmup_s") or 0.0)
    deadline = measure_from + float(spec["duration_s"])
    rec = Recorder(measure_from, int(spec["max_requests"]))
    workers = [
        _worker(i, host, port, requests, spec, rec, deadline)
        for i in range(int(spec["concurrency"]))
    ]
    await asyncio.gather(*workers)
    cpu_s = cpu_seconds() - cpu_before
    elapsed = max(rec.last_end - measure_from, 1e-9)
    ok = len(rec.ok_latency)
    count = (
        ok
        + len(rec.rejected_latency)
        + sum(v for k, v in rec.failures.items() if not k.startswith("http_"))
    )
    return {
        "url": spec["url"],
        "path": spec["path"],
        "concurrency": int(spec["concurrency"]),
        "count": count,
        "ok": ok,
        "failures": rec.failures,
        "status_counts": rec.status,
        "duration_s": elapsed,
        "rps": count / elapsed,
        "ok_rps": ok / elapsed,
        "latency_ms": _summary(rec.ok_latency),
        "rejected_latency_ms": _summary(rec.rejected_latency),
        "header_counts": rec.headers,
        "warmup_requests": rec.warmup,
        "reconnects": rec.reconnects,
        "cpu_s": cpu_s,
    }


def main(argv: Sequence[str] | None = None) -> int:
    return module_main(generate, argv, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())

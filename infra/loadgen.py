"""A closed-loop HTTP load generator that runs in its own process.

    from infra.loadgen import run_load
    result = run_load("http://127.0.0.1:8000", "/score", payloads,
                      concurrency=32, duration_s=5, max_requests=50_000)
    result.rps, result.p99_ms, result.failures      # {"http_503": 12, "connect": 0, ...}

**Closed loop, fixed concurrency.** ``concurrency`` workers each hold one
keep-alive connection to 127.0.0.1 and send their next request as soon as the
previous one is answered, so at most ``concurrency`` requests are in flight.
The offered load therefore adapts to the server: a closed loop measures
throughput at a concurrency and the latency that concurrency costs, never
what happens at a fixed arrival rate (that needs an open loop, which times
each request from when it *should* have been sent; see the load_testing lab).

**Its own process.** The generator is a subprocess (``python -m
infra.loadgen``) so that it never shares an interpreter, a GIL or an event
loop with the server it measures. It speaks HTTP/1.1 over raw asyncio
streams (uvloop when installed): every request is pre-encoded bytes, a
response is read as headers up to the blank line plus ``Content-Length`` (or
chunked) bytes, and each request is timed with its own
``time.perf_counter`` pair. On one core that is several times what one
uvicorn worker answers, so the server, not the generator, is the bottleneck
(``ceiling`` below measures it against ``infra/bare_app.py``).

**Bounded and honest.** A run stops at ``duration_s`` *or* ``max_requests``,
whichever comes first; a request still in flight gets ``timeout_s`` more.
Every attempt is counted: 2xx responses, other statuses (``http_503``), and
transport failures (``connect``, ``closed``, ``timeout``), so a run against a
dead port reports thousands of failures rather than an empty success.
Latency percentiles are over the 2xx responses (what a served user waited);
``rejected_latency_ms`` is how fast the non-2xx ones came back.

Only loopback hosts are accepted: this tool is for a server on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infra.processes import OwnedProcess

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
STARTUP_GRACE_S = 30.0  # interpreter start-up and connecting, beyond the run itself
MAX_RETRY_AFTER_S = 10.0  # the longest Retry-After a polite worker honours


class LoadgenError(RuntimeError):
    """The load generator process failed or did not finish in time."""


@dataclass
class LoadResult:
    """What one closed-loop run measured (all times from the generator's clock).

    Attributes:
        count: requests that finished (any outcome) inside the measured window.
        ok: of those, responses with a 2xx status.
        failures: everything else by kind: ``http_<status>``, ``connect``
            (refused or unreachable), ``closed`` (the connection dropped
            mid-request), ``timeout`` (no answer within ``timeout_s``).
        status_counts: responses by HTTP status code.
        duration_s: the measured window (after warm-up).
        rps, ok_rps: ``count / duration_s`` and ``ok / duration_s``.
        latency_ms: p50/p95/p99/mean/max over the 2xx responses.
        rejected_latency_ms: the same over non-2xx HTTP responses.
        header_counts: values of ``count_header`` among the 2xx responses.
        reconnects: requests re-sent on a new connection because the server
            had closed the kept-alive one before they reached it.
    """

    url: str
    path: str
    concurrency: int
    count: int
    ok: int
    failures: dict[str, int]
    status_counts: dict[str, int]
    duration_s: float
    rps: float
    ok_rps: float
    latency_ms: dict[str, float] = field(default_factory=dict)
    rejected_latency_ms: dict[str, float] = field(default_factory=dict)
    header_counts: dict[str, int] = field(default_factory=dict)
    warmup_requests: int = 0
    reconnects: int = 0  # re-sent once after the server closed an idle connection
    cpu_s: float = 0.0  # the generator's own CPU time (user + system) for the run

    @property
    def own_ceiling_rps(self) -> float:
        """Requests/s the generator could send at 100% of one core (its cost per request)."""
        total = self.count + self.warmup_requests
        return total / self.cpu_s if self.cpu_s > 0 else float("nan")

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def p50_ms(self) -> float:
        return self.latency_ms.get("p50", float("nan"))

    @property
    def p95_ms(self) -> float:
        return self.latency_ms.get("p95", float("nan"))

    @property
    def p99_ms(self) -> float:
        return self.latency_ms.get("p99", float("nan"))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_loopback(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``url``; a ValueError unless it is http on loopback."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(
            f"loadgen speaks plain HTTP only, got {url!r}; pass 'http://127.0.0.1:<port>'."
        )
    host = parts.hostname or ""
    if host not in LOOPBACK:
        raise ValueError(
            f"loadgen only loads servers on this machine (127.0.0.1, localhost, ::1), "
            f"got host {host!r} in {url!r}; start the server locally."
        )
    return host, parts.port or 80


def run_load(
    url: str,
    path: str,
    payloads: Sequence[Any] | None = None,
    *,
    concurrency: int = 32,
    duration_s: float = 5.0,
    max_requests: int = 1_000_000,
    method: str = "POST",
    timeout_s: float = 5.0,
    warmup_s: float = 0.0,
    count_header: str | None = None,
    honour_retry_after: bool = False,
    cpu: int | None = None,
) -> LoadResult:
    """Run a closed-loop load in a subprocess and return what it measured.

    Args:
        url: the server, ``http://127.0.0.1:<port>`` (loopback only).
        path: the route, e.g. ``"/score"``.
        payloads: JSON bodies, sent in rotation (each worker starts at a
            different one); ``None`` sends no body (e.g. a GET).
        concurrency: workers, each with one keep-alive connection.
        duration_s: stop sending after this long (after the warm-up).
        max_requests: stop after this many measured requests in total.
        method: the HTTP method.
        timeout_s: how long one request may take before it counts as a
            ``timeout`` failure (and its connection is dropped).
        warmup_s: send but do not record for this long first.
        count_header: a response header whose values are counted (e.g.
            ``"x-model-version"``, to see a hot swap happen under load).
        honour_retry_after: after a 429 or 503 with ``Retry-After``, the
            worker waits that long before its next request (a polite client;
            by default workers retry at once, the worst case for a server).
        cpu: pin the generator to this CPU (Linux), so that it and the server
            do not trade places on the cores between runs.

    Raises:
        ValueError: a non-loopback host or nonsensical bounds.
        LoadgenError: the generator crashed or overran its time bound.
    """
    check_loopback(url)
    if concurrency < 1 or duration_s <= 0 or max_requests < 1 or timeout_s <= 0:
        raise ValueError(
            f"need concurrency ≥ 1, duration_s > 0, max_requests ≥ 1 and timeout_s > 0; "
            f"got {concurrency}, {duration_s}, {max_requests}, {timeout_s}."
        )
    spec = {
        "url": url,
        "path": path,
        "payloads": list(payloads) if payloads is not None else None,
        "concurrency": concurrency,
        "duration_s": duration_s,
        "max_requests": max_requests,
        "method": method,
        "timeout_s": timeout_s,
        "warmup_s": warmup_s,
        "count_header": count_header,
        "honour_retry_after": honour_retry_after,
        "cpu": cpu,
    }
    with tempfile.TemporaryDirectory(prefix="labkit-loadgen-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec))
        process = OwnedProcess.start(
            [
                sys.executable,
                "-m",
                "infra.loadgen",
                "--spec",
                str(spec_path),
                "--out",
                str(out_path),
            ],
            "loadgen",
            Path(tmp) / "loadgen.log",
            env={**os.environ, "PYTHONPATH": _repo_pythonpath()},
        )
        bound = warmup_s + duration_s + timeout_s + STARTUP_GRACE_S
        try:
            process.proc.wait(timeout=bound)
        except Exception:
            raise LoadgenError(
                f"loadgen did not finish within {bound:.0f} s:\n{process.log_tail()}"
            ) from None
        finally:
            process.stop(grace_s=2.0)
        if process.proc.returncode != 0 or not out_path.exists():
            raise LoadgenError(
                f"loadgen exited with {process.proc.returncode}:\n{process.log_tail()}"
            )
        return LoadResult(**json.loads(out_path.read_text()))


def _repo_pythonpath() -> str:
    root = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (root, existing) if p)


# --- the generator itself (runs in the subprocess) ------------------------------------


def encode_requests(
    host: str, port: int, path: str, method: str, payloads: Sequence[Any] | None
) -> list[bytes]:
    """Every request as ready-to-write HTTP/1.1 bytes (keep-alive)."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"{method} {path} HTTP/1.1\r\nHost: {authority}\r\n"
    if payloads is None:
        return [(head + "\r\n").encode()]
    out = []
    for payload in payloads:
        body = json.dumps(payload, separators=(",", ":")).encode()
        out.append(
            (
                head + "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    return out


def _header(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (lower-case) in a raw response head."""
    lower = head.lower()
    start = lower.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    end = lower.find(b"\r\n", start)
    return head[start:end].strip()


class NoResponse(ConnectionError):
    """The connection ended before a single byte of the response came back."""


async def read_response(
    reader: asyncio.StreamReader, count_header: bytes | None
) -> tuple[int, bool, bytes | None, float | None]:
    """Read one response.

    Returns:
        ``(status, whether the server closes the connection, the counted
        header's value, the Retry-After seconds of a 429/503)``.
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise NoResponse("the server closed the connection") from None
        raise
    except ConnectionResetError as exc:
        raise NoResponse(str(exc)) from None
    status = int(head[9:12])
    length = _header(head, b"content-length")
    if length is not None:
        await reader.readexactly(int(length))
    elif (_header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                break
    closes = (_header(head, b"connection") or b"").lower() == b"close"
    counted = _header(head, count_header) if count_header else None
    retry_after = None
    if status in (429, 503):
        with contextlib.suppress(TypeError, ValueError):
            retry_after = float(_header(head, b"retry-after"))  # type: ignore[arg-type]
    return status, closes, counted, retry_after


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


def cpu_seconds() -> float:
    """User plus system CPU seconds this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
    requests = encode_requests(
        host, port, spec["path"], spec["method"], spec.get("payloads")
    )
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


def _event_loop_runner() -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return asyncio.run
    return uvloop.run


def spec_main(
    generate_fn: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    argv: Sequence[str] | None,
    description: str,
) -> int:
    """The command line of a generator process: ``--spec`` in, ``--out`` JSON out.

    Pins the process to ``spec["cpu"]`` when given, runs ``generate_fn(spec)``
    on uvloop (asyncio without it) and writes the result atomically, so the
    parent never reads half a file. ``infra.loadgen`` and the load_testing
    lab's open-loop generator share it.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spec", required=True, help="JSON file of the run's options")
    parser.add_argument("--out", required=True, help="where the JSON result goes")
    args = parser.parse_args(argv)
    spec = json.loads(Path(args.spec).read_text())
    if spec.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(spec["cpu"])})
    result = _event_loop_runner()(generate_fn(spec))
    tmp = Path(args.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(args.out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return spec_main(generate, argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())

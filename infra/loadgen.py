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
infra.closed_loop``, started by ``infra/module_process.py``) so that it never
shares an interpreter, a GIL or an event loop with the server it measures.
It speaks HTTP/1.1 over raw asyncio streams (``infra/http1.py``, uvloop when
installed): every request is pre-encoded bytes, a response is read as
headers up to the blank line plus ``Content-Length`` (or chunked) bytes, and
each request is timed with its own ``time.perf_counter`` pair. On one core
that is several times what one uvicorn worker answers, so the server, not
the generator, is the bottleneck (the benches measure that against
``infra/bare_app.py``).

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

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from infra.http1 import check_loopback
from infra.module_process import run_module

STARTUP_GRACE_S = 30.0  # interpreter start-up and connecting, beyond the run itself


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
        ModuleProcessError: the generator overran its time bound
            (``ModuleTimedOut``), crashed (``ModuleExited``, with its output)
            or wrote no result; see ``infra/module_process.py``.
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
    }
    bound = warmup_s + duration_s + timeout_s + STARTUP_GRACE_S
    raw = run_module(
        "infra.closed_loop", spec, name="loadgen", timeout_s=bound, cpu=cpu
    )
    return LoadResult(**raw)

"""Open-loop load on a streaming endpoint (server-sent events), in its own process.

    from infra.sse_load import run_sse_load
    run = run_sse_load("http://127.0.0.1:8000", "/generate", payloads,
                       rate=20, duration_s=10, max_requests=400, timeout_s=30)
    for r in run["requests"]:
        r["scheduled"], r["sent"], r["status"], r["events"], r["done"]

**Open loop.** Request ``i`` is *due* at ``offsets[i]`` seconds after the
run's start: a Poisson process of ``rate`` per second (exponential gaps,
what many independent users look like) or a constant rate. It is launched
then, on a new connection, whether or not earlier requests have answered,
so a server that falls behind is charged for the queue it builds: a latency
measured from ``scheduled`` includes every delay, the generator's own
included (``sent - scheduled`` says how late it actually went out).

**Every token timed.** The response is read as it streams (HTTP/1.1
chunked, ``infra/http1.py``'s raw asyncio streams, uvloop when installed)
and each server-sent event named ``token_event`` is stamped on arrival;
``done_event`` marks a complete answer. Times are seconds on the
generator's ``time.perf_counter`` clock from the run's start. The client
computes nothing else: TTFT, time per output token and goodput are the
caller's to derive (and to get right).

**Bounded.** Arrivals stop at ``duration_s`` or ``max_requests``; each
request gets at most ``timeout_s``; requests still streaming ``drain_s``
after the last arrival are cut off (the connection is closed, which a
server that handles disconnects sees as a cancellation) and reported with
``error = "cut"``. Loopback hosts only.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import sys
import time
from collections.abc import Sequence
from typing import Any

from infra.cpus import cpu_seconds
from infra.http1 import check_loopback, encode_request
from infra.module_process import module_main, run_module

STARTUP_GRACE_S = 30.0  # interpreter start-up, beyond the run itself
LEAD_S = 0.05  # the first request is due this long after the schedule is made


def arrival_offsets(
    rate: float,
    duration_s: float,
    max_requests: int,
    arrival: str = "poisson",
    seed: int = 0,
) -> list[float]:
    """Due times (s from the start), sorted, all ``< duration_s``, at most ``max_requests``."""
    if not (rate > 0 and math.isfinite(rate)) or not duration_s > 0 or max_requests < 0:
        raise ValueError(
            f"need rate > 0, duration_s > 0 and max_requests >= 0; got {rate}, "
            f"{duration_s}, {max_requests}."
        )
    if arrival not in ("poisson", "constant"):
        raise ValueError(f"arrival must be 'poisson' or 'constant', got {arrival!r}.")
    rng = random.Random(seed)
    offsets: list[float] = []
    t = 0.0
    while len(offsets) < max_requests:
        t = len(offsets) / rate if arrival == "constant" else t + rng.expovariate(rate)
        if t >= duration_s:
            break
        offsets.append(t)
    return offsets


def _events(buffer: bytearray) -> list[str]:
    """Pop the complete events (blank-line terminated) off ``buffer``; their names."""
    names = []
    text = bytes(buffer).replace(b"\r\n", b"\n")
    *complete, rest = text.split(b"\n\n")
    for block in complete:
        name = "message"
        has_data = False
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode(errors="replace")
            elif line.startswith(b"data:"):
                has_data = True
        if has_data:  # a comment-only block is a keep-alive ping
            names.append(name)
    buffer[:] = rest
    return names


async def _stream(
    reader: asyncio.StreamReader,
    record: dict[str, Any],
    spec: dict[str, Any],
    clock: Any,
) -> None:
    """Read one response; stamp each token event."""
    head = await reader.readuntil(b"\r\n\r\n")
    record["status"] = status = int(head[9:12])
    record["head"] = clock()
    lower = head.lower()
    if status != 200:
        if b"retry-after:" in lower:
            value = lower.split(b"retry-after:", 1)[1].split(b"\r\n", 1)[0]
            with contextlib.suppress(ValueError):
                record["retry_after"] = float(value.strip())
        return
    if b"transfer-encoding: chunked" not in lower:
        record["error"] = "not-chunked"
        return
    buffer = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return
        buffer += chunk[:-2]
        now = clock()
        for name in _events(buffer):
            if name == spec["token_event"]:
                record["events"].append(now)
            elif name == spec["done_event"]:
                record["done"] = True
                return


async def _one(
    index: int, request: bytes, spec: dict[str, Any], t0: float, out: list
) -> None:
    host, port = check_loopback(spec["url"])
    clock = lambda: time.perf_counter() - t0  # noqa: E731
    record: dict[str, Any] = {
        "index": index,
        "scheduled": spec["offsets"][index],
        "sent": None,
        "status": None,
        "events": [],
        "done": False,
        "error": None,
    }
    out.append(record)
    writers: list[asyncio.StreamWriter] = []

    async def exchange() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        writers.append(writer)
        record["sent"] = clock()
        writer.write(request)
        await _stream(reader, record, spec, clock)

    try:
        await asyncio.wait_for(exchange(), float(spec["timeout_s"]))
    except asyncio.TimeoutError:
        record["error"] = "timeout"
    except asyncio.CancelledError:
        record["error"] = "cut"
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        record["error"] = type(exc).__name__
    finally:
        for writer in writers:
            writer.transport.abort()


async def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the open loop described by ``spec``; the JSON-able result."""
    host, port = check_loopback(spec["url"])
    payloads = spec["payloads"]
    requests = [encode_request(host, port, spec["path"], "POST", p) for p in payloads]
    offsets = spec["offsets"] = arrival_offsets(
        float(spec["rate"]),
        float(spec["duration_s"]),
        int(spec["max_requests"]),
        spec.get("arrival", "poisson"),
        int(spec.get("seed", 0)),
    )
    cpu_before = cpu_seconds()
    t0 = time.perf_counter() + LEAD_S
    records: list[dict[str, Any]] = []
    tasks = []
    for i, due in enumerate(offsets):
        delay = t0 + due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        request = requests[i % len(requests)]
        tasks.append(asyncio.create_task(_one(i, request, spec, t0, records)))
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=float(spec["drain_s"]))
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    records.sort(key=lambda r: r["index"])
    lags = [r["sent"] - r["scheduled"] for r in records if r["sent"] is not None]
    return {
        "url": spec["url"],
        "path": spec["path"],
        "rate": float(spec["rate"]),
        "duration_s": float(spec["duration_s"]),
        "requests": records,
        "max_send_lag_s": max(lags, default=0.0),
        "cpu_s": cpu_seconds() - cpu_before,
    }


def run_sse_load(
    url: str,
    path: str,
    payloads: Sequence[Any],
    *,
    rate: float,
    duration_s: float,
    max_requests: int,
    timeout_s: float = 30.0,
    drain_s: float = 10.0,
    arrival: str = "poisson",
    seed: int = 0,
    token_event: str = "token",
    done_event: str = "done",
    cpu: int | None = None,
) -> dict[str, Any]:
    """Run an open-loop SSE load in its own process (see the module docstring).

    Args:
        payloads: JSON bodies; request ``i`` sends ``payloads[i % len]``.
        drain_s: after the last arrival, how long requests may still stream.
        cpu: pin the generator to this core (``infra.cpus.client_cpu()``).
    """
    check_loopback(url)
    if not payloads:
        raise ValueError("give at least one payload.")
    spec = {
        "url": url,
        "path": path,
        "payloads": list(payloads),
        "rate": rate,
        "duration_s": duration_s,
        "max_requests": max_requests,
        "timeout_s": timeout_s,
        "drain_s": drain_s,
        "arrival": arrival,
        "seed": seed,
        "token_event": token_event,
        "done_event": done_event,
    }
    return run_module(
        "infra.sse_load",
        spec,
        name="sse-load",
        timeout_s=duration_s + drain_s + STARTUP_GRACE_S,
        cpu=cpu,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return module_main(generate, argv, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())

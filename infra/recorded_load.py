"""A small closed-loop load that records every request, for fault runs.

    with RecordedLoad("http://127.0.0.1:8000", "/score", payloads) as load:
        load.wait_until(lambda: load.answered_since(load.began) >= 50, 20.0)
        ...inject a fault...
    load.outcomes      # [Outcome(sent, status, body, error), ...] in finishing order

``infra/loadgen.py`` measures throughput and latency in a process of its
own, and reports counts. A fault run needs something else: *when* each
request was sent and *what* it got back (a status, the body, or the
transport error that replaced them), to tell the requests in flight at a
kill from those sent while nothing listened, or to see answers switch to a
fallback and back. A few client threads in the caller's process do that:
each sends its next request when the last one returns (so each has at most
one in flight), and waits a little after a transport error instead of
spinning on a closed port.

Bounded: it stops when the ``with`` block ends, after ``limit_s``, or after
``max_requests`` per client, whichever comes first. Loopback hosts only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from infra.http1 import check_loopback

ERROR_PAUSE_S = 0.02  # after a transport error (nothing listens): do not spin


@dataclass(frozen=True)
class Outcome:
    """One request: sent at ``sent`` (``time.monotonic``), and what came back.

    ``status`` is 0 and ``error`` the exception's class name (``ConnectError``:
    refused; ``RemoteProtocolError``, ``ReadError``: dropped mid-request) when
    no response came; ``body`` is the JSON of a 200, else ``None``.
    """

    sent: float
    finished: float
    status: int
    body: Any = None
    error: str | None = None


class RecordedLoad:
    """``clients`` threads posting ``payloads`` in rotation to ``url + path``."""

    def __init__(
        self,
        url: str,
        path: str,
        payloads: Sequence[Any],
        *,
        clients: int = 4,
        limit_s: float = 60.0,
        max_requests: int = 20_000,
        timeout_s: float = 10.0,
    ) -> None:
        check_loopback(url)
        if not payloads or clients < 1 or limit_s <= 0 or max_requests < 1:
            raise ValueError(
                "need payloads, clients ≥ 1, limit_s > 0 and max_requests ≥ 1; got "
                f"{len(payloads)} payloads, {clients}, {limit_s}, {max_requests}."
            )
        self.url, self.path, self.payloads = url, path, list(payloads)
        self.clients, self.limit_s, self.max_requests = clients, limit_s, max_requests
        self.timeout_s = timeout_s
        self.outcomes: list[Outcome] = []
        self.began = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> RecordedLoad:
        self.began = time.monotonic()
        self._threads = [
            threading.Thread(target=self._client, args=(k,), name=f"recorded-load-{k}")
            for k in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending; wait for each client's last request (bounded by its timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 5.0)

    def _client(self, k: int) -> None:
        with httpx.Client(base_url=self.url, timeout=self.timeout_s) as http:
            for n in range(self.max_requests):
                if self._stop.is_set() or time.monotonic() - self.began > self.limit_s:
                    return
                payload = self.payloads[(k * 7919 + n) % len(self.payloads)]
                sent = time.monotonic()
                try:
                    response = http.post(self.path, json=payload)
                except httpx.TransportError as exc:  # refused, reset, dropped
                    self.outcomes.append(
                        Outcome(sent, time.monotonic(), 0, error=type(exc).__name__)
                    )
                    self._stop.wait(ERROR_PAUSE_S)
                    continue
                body = response.json() if response.status_code == 200 else None
                self.outcomes.append(
                    Outcome(sent, time.monotonic(), response.status_code, body)
                )

    def since(self, t: float) -> list[Outcome]:
        """The requests sent after ``t`` that have finished."""
        return [o for o in list(self.outcomes) if o.sent > t]

    def answered_since(self, t: float, **body: Any) -> int:
        """200s sent after ``t`` (whose body has ``body``'s values, if given)."""
        return sum(
            1
            for o in self.since(t)
            if o.status == 200 and all(o.body.get(k) == v for k, v in body.items())
        )

    def wait_until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Poll ``condition`` every 20 ms for up to ``timeout_s``; whether it held."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

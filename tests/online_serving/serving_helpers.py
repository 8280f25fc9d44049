"""Helpers for the online-serving tests: per-milestone settings and a pool of servers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any

import pytest

from infra.uvicorn_server import ServerDidNotStart, UvicornServer, start_uvicorn

APP = "labs.online_serving.main:create_app"
START_TIMEOUT_S = 45.0


def settings_for(milestone: int, registry_root: Path, **overrides: Any) -> Any:
    """Settings for milestone ``milestone``'s tests: later features off, tiny preset."""
    from labs.online_serving import Settings

    values: dict[str, Any] = {"preset": "tiny", "registry_root": registry_root}
    if milestone < 3:
        values["max_batch_size"] = 1  # no micro-batcher
    if milestone < 4:  # no timeout/fallback, admission limit, hot swap or drain
        values.update(
            feature_timeout_s=0, max_queue_size=0, model_poll_s=0, shutdown_grace_s=0
        )
    if milestone < 5:
        values["metrics"] = False
    values.update(overrides)
    return Settings(**values)


_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")


def explain(exc: ServerDidNotStart) -> str:
    """The server's own error line first, then its log (a start-up failure's cause)."""
    text = str(exc)
    errors = [line for line in text.splitlines() if _ERROR_LINE.match(line.strip())]
    cause = errors[-1].strip() if errors else text.splitlines()[0]
    return f"the service did not start: {cause}\n\nserver log:\n{text}"


class Servers:
    """uvicorn servers keyed by their settings; started on demand, stopped at the end.

    Start-up is mostly imports (torch, pandas, FastAPI), so a test module
    ``prestart``s every server it will need, shared and private, and they
    start side by side while the first test waits for its own.
    """

    def __init__(self) -> None:
        self._running: dict[frozenset, UvicornServer] = {}
        self._failed: dict[frozenset, str] = {}
        self._private: list[UvicornServer] = []
        self._starting: dict[frozenset, Future[UvicornServer]] = {}
        self._spares: dict[frozenset, list[Future[UvicornServer]]] = {}
        self._pool = ThreadPoolExecutor(8, thread_name_prefix="server-start")

    @staticmethod
    def _key(settings: Any) -> frozenset:
        return frozenset(settings.as_env().items())

    def prestart(self, *settings: Any, private: bool = False) -> None:
        """Start servers in the background; ``get`` (or ``private``) collects them."""
        for one in settings:
            key = self._key(one)
            if private:
                future = self._pool.submit(self._start, one)
                self._spares.setdefault(key, []).append(future)
            elif not ({key} & (self._running.keys() | self._starting.keys())):
                self._starting[key] = self._pool.submit(self._start, one)

    def get(self, settings: Any) -> UvicornServer:
        """A shared server with these settings (do not stop it)."""
        key = self._key(settings)
        if key not in self._running and key not in self._failed:
            future = self._starting.pop(key, None) or self._pool.submit(
                self._start, settings
            )
            try:
                self._running[key] = future.result()
            except ServerDidNotStart as exc:
                self._failed[key] = explain(exc)
        if key in self._failed:
            pytest.fail(self._failed[key], pytrace=False)
        return self._running[key]

    def get_many(self, *settings: Any) -> list[UvicornServer]:
        """Several shared servers, started side by side."""
        self.prestart(*settings)
        return [self.get(s) for s in settings]

    def private(self, settings: Any) -> UvicornServer:
        """A server of the calling test alone (it may stop it; stopped at the end anyway)."""
        spares = self._spares.get(self._key(settings))
        future = spares.pop(0) if spares else self._pool.submit(self._start, settings)
        try:
            server = future.result()
        except ServerDidNotStart as exc:
            pytest.fail(explain(exc), pytrace=False)
        self._private.append(server)
        return server

    @staticmethod
    def _start(settings: Any) -> UvicornServer:
        return start_uvicorn(
            APP, env=settings.as_env(), health_path="/readyz", timeout_s=START_TIMEOUT_S
        )

    def stop_all(self) -> None:
        """Stop every server, including those started but never collected."""
        unclaimed = [*self._starting.values(), *chain(*self._spares.values())]
        self._pool.shutdown(wait=True)  # a start in progress ends (or fails) first
        for future in unclaimed:
            if future.exception() is None:
                self._private.append(future.result())
        for server in [*self._running.values(), *self._private]:
            server.stop()
        self._running.clear()
        self._private.clear()
        self._starting.clear()
        self._spares.clear()


async def settle(tasks: Iterable[asyncio.Task], timeout_s: float = 5.0) -> list[Any]:
    """Wait for ``tasks`` (cancel the stragglers) and collect results or exceptions.

    A test that fails half-way must still collect every task it started: an
    exception nobody retrieved is logged when the task is garbage-collected,
    at an arbitrary later moment (and on CPython 3.11 that can even break
    pytest's own traceback formatting).
    """
    tasks = list(tasks)
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
    return list(await asyncio.gather(*tasks, return_exceptions=True))

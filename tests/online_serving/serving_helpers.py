"""Helpers for the online-serving tests: per-milestone settings, servers, bounded waits.

- ``settings_for(milestone, ...)``: later milestones' features off.
- ``Servers``: uvicorn subprocesses shared by the session.
- ``bounded``, ``until``, ``settle``: waits that end in seconds with a message
  saying what never arrived, instead of at the per-test timeout.
- ``WakeUps``: counts how often a coroutine's task is resumed, to tell a
  task that sleeps on an event from one that polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
)
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.apps import SERVING_APP
from infra.uvicorn_server import ServerDidNotStart, UvicornServer, start_uvicorn

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


# --- the servers the tests start: shared ones by settings, private ones per test ---


def contract_settings(registry_root: Path) -> Any:
    """m1 and m2 over HTTP (the contract): batching and later features off."""
    return settings_for(2, registry_root)


def batching_settings(registry_root: Path) -> Any:
    """m3 under HTTP load: the micro-batcher on."""
    return settings_for(3, registry_root, max_batch_size=32, batch_wait_timeout_s=0.002)


def swap_settings(swap_root: Path) -> Any:
    """m4 hot swap under load: the alias polled every 0.2 s."""
    return settings_for(
        4, swap_root, model_poll_s=0.2, max_batch_size=16, feature_timeout_s=5.0
    )


def sigterm_settings(registry_root: Path) -> Any:
    """m4 SIGTERM: six requests stay in flight on a slow store (one batch of six)."""
    return settings_for(
        4,
        registry_root,
        feature_delay_s=0.8,
        feature_timeout_s=0,
        max_batch_size=8,
        batch_wait_timeout_s=0.3,
    )


ADMIN_TOKEN = "fuzz-admin-token"  # the full server's (the schema fuzz sends it)


def full_settings(registry_root: Path) -> Any:
    """Every feature on, the admin route too: the service the OpenAPI schema describes."""
    return settings_for(6, registry_root, max_batch_size=16, admin_token=ADMIN_TOKEN)


def serve_settings(registry_root: Path) -> Any:
    """m6: the app on Ray Serve, batching on.

    Its tests compare scores with the model's, so a store read may take its
    time: at the default 50 ms, one slow read on a busy machine (Ray's
    replicas beside a test worker on two cores) answered from popularity and
    failed a clean-clone `make test`. The timeout itself is m4's to test.
    """
    return settings_for(6, registry_root, max_batch_size=16, feature_timeout_s=5.0)


def make_service(
    parts: dict[str, Any], milestone: int = 4, metrics: Any = None, **overrides: Any
) -> Any:
    """An in-process ``Service`` on the shared ``service_parts`` (no model poll).

    Call ``service.start()`` inside the test's event loop, and ``release(service)``
    at the end: it stops the batcher and the threads but leaves the shared
    store open (``Service.close`` would close it).
    """
    from labs.online_serving import NullMetrics, Service

    settings = settings_for(
        milestone, parts["registry_root"], **{"model_poll_s": 0, **overrides}
    )
    return Service(
        settings,
        parts["store"],
        parts["models"],
        parts["catalogue"],
        parts["popularity"],
        metrics if metrics is not None else NullMetrics(),
    )


def release(service: Any) -> None:
    """Stop an in-process service's batcher and threads (the store stays open)."""
    if service.batcher is not None:
        service.batcher.cancel()
    service.scorer.close()


@contextlib.asynccontextmanager
async def serving_app(service: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real app around an in-process ``service``, and a client that calls it.

    No server, no lifespan: the app is ``create_app``'s, with ``service`` as
    the lifespan would have set it, called through ASGI in this event loop.
    An exception the app does not handle becomes a 500, as under uvicorn.
    """
    from labs.online_serving import create_app

    app = create_app(service.settings)
    app.state.service = service
    service.start()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://serving", timeout=10
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        release(service)


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
            SERVING_APP,
            env=settings.as_env(),
            health_path="/readyz",
            timeout_s=START_TIMEOUT_S,
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


FAILING_SETTLE_S = 0.2  # how long a test that already failed waits for its tasks


async def settle(tasks: Iterable[asyncio.Task], timeout_s: float = 5.0) -> list[Any]:
    """Wait for ``tasks`` (cancel the stragglers) and collect results or exceptions.

    A test that fails half-way must still collect every task it started: an
    exception nobody retrieved is logged when the task is garbage-collected,
    at an arbitrary later moment (and on CPython 3.11 that can even break
    pytest's own traceback formatting). Called in a ``finally`` that a
    failure is passing through (``sys.exc_info()`` shows it there), it waits
    at most ``FAILING_SETTLE_S``: nobody reads those results, and a batcher
    that never answers cost 5 s per failing test (a check of m4 with its
    regions unwritten took 42 s).
    """
    if sys.exc_info()[1] is not None:
        timeout_s = min(timeout_s, FAILING_SETTLE_S)
    tasks = list(tasks)
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def bounded(awaitable: Awaitable[Any], what: str, timeout_s: float = 5.0) -> Any:
    """Await ``awaitable`` for at most ``timeout_s``; fail saying ``what`` never came.

    On a timeout the awaitable is cancelled (a gather cancels its children),
    so nothing is left running into the next test.
    """
    try:
        return await asyncio.wait_for(awaitable, timeout_s)
    except asyncio.TimeoutError:
        raise AssertionError(f"{what} never arrived within {timeout_s} s") from None


async def until(
    condition: Callable[[], bool], what: str, timeout_s: float = 5.0
) -> None:
    """Poll ``condition`` (every 5 ms) until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened within {timeout_s} s")
        await asyncio.sleep(0.005)


class WakeUps(Coroutine[Any, Any, Any]):
    """Wrap a coroutine and count how often its task resumes it.

    ``asyncio.create_task(WakeUps(batcher.stop()))``: each ``send``/``throw``
    is one wake-up of the task. A task waiting on an event wakes a few times;
    one that polls with ``asyncio.sleep`` wakes once per poll.
    """

    def __init__(self, coro: Coroutine[Any, Any, Any]):
        self.coro = coro
        self.count = 0

    def send(self, value: Any) -> Any:
        self.count += 1
        return self.coro.send(value)

    def throw(self, *args: Any) -> Any:
        self.count += 1
        return self.coro.throw(*args)

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self.coro.__await__()

"""Run an ASGI app under uvicorn in its own process, on 127.0.0.1 and a free port.

Tests and labs talk to the service over real HTTP, as a client would. The
server's settings travel as environment variables (pydantic-settings reads
them), so the same app factory serves tests, the demo and load tests. Under
``labkit verify`` the server is forked from verify's warm server instead of
a new interpreter (``infra.warm_fork``): the same process, started without
importing torch again.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import multiprocessing.util
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra import ports, warm_fork
from infra.ports import HOST
from infra.processes import OwnedProcess

_STARTS = itertools.count(1)  # numbers each log this process writes


class ServerDidNotStart(RuntimeError):
    """The server exited or never answered its health check."""


class PortTaken(ServerDidNotStart, ports.PortTaken):
    """uvicorn could not bind: another process holds the port."""


@dataclass
class UvicornServer:
    process: OwnedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM (uvicorn finishes in-flight requests), then SIGKILL after ``grace_s``."""
        return self.process.stop(grace_s=grace_s)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def start_uvicorn(
    app: str,
    *,
    factory: bool = True,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
    health_path: str = "/healthz",
    timeout_s: float = 60.0,
    log_dir: Path | None = None,
    extra_args: tuple[str, ...] = (),
    port: int | None = None,
) -> UvicornServer:
    """Start ``uvicorn <app>`` and wait until ``health_path`` answers 200.

    Args:
        app: ``"package.module:attribute"`` (an app factory when ``factory``).
        env: extra environment variables (the service's settings).
        workers: uvicorn worker processes.
        health_path: polled until it answers 200.
        timeout_s: how long to wait for the health check.
        log_dir: where the server's log goes (a temp dir by default).
        port: the port to listen on (a free one by default); a given one
            restarts a server where its clients already point.

    A port chosen here that another process takes before uvicorn binds it
    is replaced (``infra.ports.start_on_free_port``); a given one is not.
    """
    start = functools.partial(
        _start_once,
        app,
        factory=factory,
        env=env,
        workers=workers,
        health_path=health_path,
        timeout_s=timeout_s,
        log_dir=log_dir,
        extra_args=extra_args,
    )
    return ports.start_on_free_port(start, port)


def _start_once(
    app: str,
    port: int,
    *,
    factory: bool,
    env: Mapping[str, str] | None,
    workers: int,
    health_path: str,
    timeout_s: float,
    log_dir: Path | None,
    extra_args: tuple[str, ...],
) -> UvicornServer:
    uvicorn_args = [
        app,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        *(["--factory"] if factory else []),
        *extra_args,
    ]
    run_env = dict(os.environ)
    run_env.update(env or {})
    log_dir = log_dir or _logs_of_this_process()
    # Numbered: a server restarted on its port must not overwrite the last log.
    name, log_path = f"uvicorn {app}", log_dir / f"uvicorn-{port}-{next(_STARTS)}.log"
    if warm_fork.available() and workers == 1:  # labkit verify: no new interpreter
        forked = warm_fork.start_module(
            "uvicorn", uvicorn_args, env=run_env, log_path=log_path
        )
        process = OwnedProcess(forked, log_path, name)
    else:
        args = [sys.executable, "-m", "uvicorn", *uvicorn_args]
        process = OwnedProcess.start(args, name, log_path, env=run_env)
    server = UvicornServer(process, port)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive():
            tail = process.log_tail()
            error = PortTaken if "address already in use" in tail else ServerDidNotStart
            raise error(f"uvicorn {app} exited with {process.proc.returncode}:\n{tail}")
        if _healthy(server.url + health_path):
            return server
        time.sleep(0.1)
    server.stop()
    raise ServerDidNotStart(
        f"uvicorn {app} did not answer {health_path} within {timeout_s} s:\n{process.log_tail()}"
    )


_LOGS: dict[int, Path] = {}  # process id -> the folder of its servers' logs


def _logs_of_this_process() -> Path:
    """One temporary folder for every server log this process starts, gone at exit.

    A log is read after its server stopped (tests check what it printed), so a
    server's log outlives ``stop()``; the folder goes when this process ends
    (:func:`remove_logs`). A fork starts a folder of its own.

    A process of ``multiprocessing`` ends with ``os._exit``, which skips
    ``atexit``, so its folder was left in the temporary directory. It runs
    ``multiprocessing``'s own exit finalisers instead, so the folder is
    registered there too.
    """
    pid = os.getpid()
    if pid not in _LOGS:
        if not _LOGS:
            atexit.register(remove_logs)  # a fork inherits it
        multiprocessing.util.Finalize(None, remove_logs, exitpriority=0)
        _LOGS[pid] = Path(tempfile.mkdtemp(prefix="labkit-uvicorn-"))
    return _LOGS[pid]


def remove_logs() -> None:
    """Delete this process's server logs (at exit; or before ``os._exit``, which skips it)."""
    folder = _LOGS.pop(os.getpid(), None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def running_uvicorn(app: str, **kwargs: object) -> Iterator[UvicornServer]:
    """``with running_uvicorn("pkg.main:create_app") as server: ... server.url``; always stopped."""
    server = start_uvicorn(app, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()

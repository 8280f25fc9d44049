"""A private redis-server on a free port, with persistence off.

Tests and benchmarks start their own server so they never touch a Redis the
user runs, and so CI needs nothing but the ``redis-server`` binary
(``apt-get install redis-server`` / ``brew install redis``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra import ports
from infra.ports import HOST, wait_for_port
from infra.processes import OwnedProcess

INSTALL_HINT = "install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)"


class RedisUnavailable(RuntimeError):
    """No redis-server binary, or it did not start."""


class PortTaken(RedisUnavailable, ports.PortTaken):
    """redis-server could not bind: another process holds the port."""


def redis_binary() -> str | None:
    return shutil.which("redis-server")


@dataclass
class RedisServer:
    process: OwnedProcess
    port: int
    workdir: Path | None = None  # a temp dir we created, removed on stop

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def stop(self) -> None:
        self.process.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis(
    workdir: Path | None = None, timeout_s: float = 10.0, port: int | None = None
) -> RedisServer:
    """Start ``redis-server`` on 127.0.0.1 and a free port; persistence off.

    Given a ``workdir`` and a ``port``, it restarts a server where it was: it
    loads the ``dump.rdb`` a ``SAVE`` left there, and clients that point at
    the port reconnect to it. A port chosen here that another process takes
    before Redis binds it is replaced (``infra.ports.start_on_free_port``); a
    given one is not.
    """
    binary = redis_binary()
    if binary is None:
        raise RedisUnavailable(f"redis-server is not on PATH; {INSTALL_HINT}.")
    return ports.start_on_free_port(
        lambda free: _start_once(binary, workdir, timeout_s, free), port
    )


def _start_once(
    binary: str, workdir: Path | None, timeout_s: float, port: int
) -> RedisServer:
    owned = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="labkit-redis-"))
    args = [
        binary,
        "--bind",
        HOST,
        "--port",
        str(port),
        "--save",
        "",  # no RDB snapshots
        "--appendonly",
        "no",  # no AOF
        "--dir",
        str(workdir),
        "--protected-mode",
        "yes",
    ]
    process = OwnedProcess.start(args, "redis-server", workdir / "redis.log")
    server = RedisServer(process, port, workdir if owned else None)
    # Ours once its log says so: something else listening on the port would
    # also accept connections.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive():
            tail = process.log_tail()
            server.stop()
            error = PortTaken if "Address already in use" in tail else RedisUnavailable
            raise error(f"redis-server exited on {HOST}:{port}: {tail}")
        if "Ready to accept connections" in process.log_tail(50) and wait_for_port(
            port, 0.1
        ):
            return server
        time.sleep(0.02)
    tail = process.log_tail()
    server.stop()
    raise RedisUnavailable(f"redis-server did not listen on {HOST}:{port}: {tail}")


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """``with running_redis() as server: ... server.url``; always stopped."""
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()

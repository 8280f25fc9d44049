"""``python -m <module>`` as a fork of ``labkit verify``'s warm server, when there is one.

A test that starts a server (``infra.uvicorn_server``) starts a new
interpreter, which imports torch, pandas and FastAPI again before it can
answer: a few CPU-seconds per server, and ``labkit verify`` runs the serving
labs' tests hundreds of times. A run that verify forked from its warm server
(``common.kit.warm_pytest``, which preloaded all of that and says so with
``rank_process.REUSE_VAR``) can ask the same server for the process instead
(as its torch.distributed ranks do, ``infra.rank_process``): the module then
starts with everything imported.

The process is the one ``python -m`` would have been: the parent's
environment (the workspace overlay travels in it, and ``labs`` is imported
only here, after the environment is set), its working directory first on
``sys.path``, then ``PYTHONPATH``; its own process group; its output in a log
file; the parent's CPU priority. :class:`ForkedPopen` gives it the part of
``subprocess.Popen`` that :class:`infra.processes.OwnedProcess` uses, so
stopping it, waiting for it and reading its exit code work as for any other.

A process not forked by verify (a lab's test session under ``labkit check``
or plain pytest) can start a fork server of its own for the same purpose
(:func:`serve_from_here`). Elsewhere (a CLI run, macOS) nothing changes:
:func:`available` is false and callers start a new interpreter.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from multiprocessing.connection import wait as wait_for_sentinels
from multiprocessing.process import BaseProcess
from pathlib import Path

from infra.rank_process import (
    REUSE_VAR,
    fork_server_context,
    reuse_parent_fork_server,
    start_fork_server,
    take_on_caller,
)

# Set by the forked process when it could not become what was asked (the
# lab package was already imported, so the overlay could not apply).
CANNOT_START_EXIT = 70  # EX_SOFTWARE
# Process.start is not thread-safe, and a run may start several servers at
# once from background threads (the serving labs' conftests do); it also
# reads the exit status of every finished child, which only one reader may do.
_LOCK = threading.Lock()
# The warm server preloads this module (common.kit.warm_pytest.PRELOAD): what
# follows ran there, before any run, so a forked process knows the server's
# own sys.path (a run's has pytest's test folders in front) and can tell that
# the module came from the server.
_LOADED_IN = os.getpid()
_SERVER_PATH = list(sys.path)
SETSID_WAIT_S = 5.0  # for the forked process to be in a process group of its own


# What a fork server of a process's own (serve_from_here) imports before it
# forks anything: what a lab's app imports before it can answer.
SERVING_PRELOAD = [
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "duckdb",
    "torch",
    "fastapi",
    "httpx",
    "uvicorn.main",
    "pydantic_settings",
    "prometheus_client",
    "sse_starlette",
    "infra.warm_fork",  # records the server's sys.path, as in verify's warm server
]
_serving_here = False  # set by serve_from_here, in the process that called it


def available() -> bool:
    """Whether this process may ask a warm fork server for its processes.

    True in a run forked by ``labkit verify``'s warm server, and in a process
    that started a fork server of its own (:func:`serve_from_here`).
    """
    if _serving_here:
        return True
    return os.getpid() != _LOADED_IN and reuse_parent_fork_server()


def serve_from_here() -> bool:
    """Start a fork server for the servers this process will start; whether it may.

    A test session that starts several servers (online_serving's starts five)
    paid 2-3 CPU-seconds of imports for each, all at once at its start. With a
    fork server of its own, the serving stack is imported once, beside the
    first tests, and each server is a fork of it. A run forked by verify's
    warm server has one already. Linux only, as that warm server is: macOS
    forbids forking some system frameworks once loaded.
    """
    global _serving_here
    if available():
        return True
    if not sys.platform.startswith("linux"):
        return False
    start_fork_server(SERVING_PRELOAD)
    _serving_here = True
    return True


class ForkedPopen:
    """A forked process seen as ``subprocess.Popen``: ``pid``, ``poll``, ``wait``, ``returncode``."""

    def __init__(self, process: BaseProcess, args: list[str]):
        self._process = process
        self.args = args
        self.pid: int = process.pid  # type: ignore[assignment]

    @property
    def returncode(self) -> int | None:
        with _LOCK:
            return self._process.exitcode

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        wait_for_sentinels([self._process.sentinel], timeout)
        code = self.returncode
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code


def start_module(
    module: str, args: Sequence[str], *, env: Mapping[str, str], log_path: Path
) -> ForkedPopen:
    """Fork ``python -m module args`` from the warm server (see :func:`available`)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    process = fork_server_context().Process(
        target=_main,
        args=(module, list(args), dict(env), os.getcwd(), str(log_path), niceness),
        name=f"python -m {module}",
        daemon=False,  # it may start processes of its own; the caller stops it
    )
    with _LOCK:
        process.start()
    popen = ForkedPopen(process, [sys.executable, "-m", module, *args])
    # As with Popen(start_new_session=True), a stop right away must reach the
    # process group: wait for the process to make it.
    deadline = time.monotonic() + SETSID_WAIT_S
    while time.monotonic() < deadline and popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(popen.pid) == popen.pid:
                break
        time.sleep(0.002)
    return popen


def _main(
    module: str,
    args: list[str],
    env: dict[str, str],
    cwd: str,
    log_path: str,
    niceness: int,
) -> None:
    """The forked process: become ``python -m module args`` started by the caller."""
    os.setsid()  # its own process group: the caller stops exactly it
    env = {k: v for k, v in env.items() if k != REUSE_VAR}  # it forks nothing here
    take_on_caller(env, log_path, cwd=cwd)
    os.setpriority(os.PRIO_PROCESS, 0, niceness)
    _let_go_of_the_server()
    if "labs" in sys.modules:  # the overlay is installed by importing labs
        print("the warm server imported labs; start a new interpreter", flush=True)
        os._exit(CANNOT_START_EXIT)
    front = [cwd, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    sys.path[:] = front + [p for p in _SERVER_PATH if p not in front]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _let_go_of_the_server() -> None:
    """Close what ties this process to the warm server and its resource tracker.

    The server runs while any process holds its "alive" pipe: a server that
    outlived its run would otherwise keep verify's warm server (and the
    output verify's caller reads) open after verify ends.
    """
    from multiprocessing import forkserver, resource_tracker

    for owner, attribute in (
        (forkserver._forkserver, "_forkserver_alive_fd"),
        (resource_tracker._resource_tracker, "_fd"),
    ):
        fd = getattr(owner, attribute, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
            setattr(owner, attribute, None)

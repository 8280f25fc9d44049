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

Elsewhere (plain pytest, ``labkit check``, a CLI run, CPython 3.12+) nothing
changes: :func:`available` is false and callers start a new interpreter.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path

from infra.rank_process import fork_server_context, reuse_parent_fork_server

# Set by the forked process when it could not become what was asked (the
# lab package was already imported, so the overlay could not apply).
CANNOT_START_EXIT = 70  # EX_SOFTWARE
# Process.start is not thread-safe, and a run may start several servers at
# once from background threads (the serving labs' conftests do).
_START = threading.Lock()


def available() -> bool:
    """Whether this process was forked by a warm server it may ask for processes."""
    return reuse_parent_fork_server()


class ForkedPopen:
    """A forked process seen as ``subprocess.Popen``: ``pid``, ``poll``, ``wait``, ``returncode``."""

    def __init__(self, process: BaseProcess, args: list[str]):
        self._process = process
        self.args = args
        self.pid: int = process.pid  # type: ignore[assignment]

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode if not self._process.is_alive() else None

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return self._process.exitcode


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
    with _START:
        process.start()
    return ForkedPopen(process, [sys.executable, "-m", module, *args])


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
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.setpriority(os.PRIO_PROCESS, 0, niceness)
    if "labs" in sys.modules:  # the overlay is installed by importing labs
        print("the warm server imported labs; start a new interpreter", flush=True)
        os._exit(CANNOT_START_EXIT)
    os.environ.clear()
    os.environ.update(env)
    # The interpreter read these at its start (the server's): the caller's decide.
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    sys.pycache_prefix = env.get("PYTHONPYCACHEPREFIX") or None
    os.chdir(cwd)
    front = [cwd, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    sys.path[:] = front + [p for p in sys.path if p not in front]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)

"""Rank processes forked from a warm fork server: a rank starts in a tenth of a second.

Importing torch costs a new interpreter a second or two of CPU; a rank group
of four, restarted after every failure, would spend most of a test run
there. So ranks are forked from ``multiprocessing``'s fork server, which
imports torch (and ``torch._dynamo``, which the first optimiser imports
lazily) once and never runs a tensor operation, so forking it is safe. Each
rank runs :func:`infra.torch_rank.child_main` in a process group of its
own, with the parent's environment and its output in a log file.

As with any ``multiprocessing`` start method but ``fork``, a script that
starts ranks must guard its entry point with ``if __name__ == "__main__":``
(the fork server imports the main module). :func:`stop_fork_server` stops
the server itself; the next rank starts a new one.

A process that was itself forked by a fork server which has already
imported everything a rank needs (``labkit verify``'s warm pytest server,
which says so with ``REUSE_VAR`` in the environment) asks *that* server for
its ranks instead of starting one more: a verify runs the distributed tests
dozens of times, and each new server would import torch again (seconds of
CPU each). Only on CPython before 3.12, whose fork-server protocol this
relies on; elsewhere a new server starts as usual.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
from pathlib import Path

# What a rank needs imported before it is forked. torch._dynamo: the first
# optimiser imports it lazily, 2-3 s per process.
RANK_PRELOAD = ["torch", "torch.distributed", "torch._dynamo", "infra.torch_rank"]
# Set (to "1") by a fork server that preloaded RANK_PRELOAD, for its children.
REUSE_VAR = "LABKIT_RANKS_FROM_FORK_SERVER"


def take_on_caller(
    env: dict[str, str],
    log_path: str,
    *,
    append: bool = False,
    mode: int = 0o644,
    cwd: str | None = None,
) -> None:
    """Make a process a fork server forked look as if its caller had started it.

    The fork server started once, with its own environment, folder and
    output; every process it forks (a rank, a uvicorn server, a pytest run)
    takes on the caller's instead: output into ``log_path`` (appended to, or
    a new file with ``mode``), ``env`` as the whole environment, the bytecode
    settings the interpreter read from the server's environment at its start
    (``PYTHONDONTWRITEBYTECODE``, ``PYTHONPYCACHEPREFIX``), and ``cwd``.
    ``sys.path`` is the caller's business: each kind of process builds its own.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    log = os.open(log_path, flags, mode)
    os.dup2(log, 1)
    os.dup2(log, 2)
    if log > 2:  # 1 or 2 only if that was closed; it is the output now
        os.close(log)
    os.environ.clear()
    os.environ.update(env)
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    sys.pycache_prefix = env.get("PYTHONPYCACHEPREFIX") or None
    if cwd is not None:
        os.chdir(cwd)


def reuse_parent_fork_server() -> bool:
    """Whether to fork ranks from the fork server that forked this process.

    A child of ``multiprocessing``'s fork server knows its server's address
    and holds the "alive" pipe its requests carry, but not its pid (it is
    not the server's parent), so ``ensure_running`` would start a new one.
    """
    if os.environ.get(REUSE_VAR) != "1" or sys.version_info >= (3, 12):
        return False
    from multiprocessing import forkserver

    server = forkserver._forkserver
    return (
        getattr(server, "_forkserver_address", None) is not None
        and getattr(server, "_forkserver_alive_fd", None) is not None
        and getattr(server, "_forkserver_pid", 0) is None
    )


def fork_server_context() -> multiprocessing.context.ForkServerContext:
    """The fork server ranks (and ``infra.warm_fork``'s processes) are forked from.

    Torch is imported there once and never run.
    """
    context = multiprocessing.get_context("forkserver")
    if reuse_parent_fork_server():
        from multiprocessing import forkserver, resource_tracker

        # The server that forked us is running (it outlives us): never start
        # another. Only the check is replaced; the request is the standard one.
        forkserver._forkserver.ensure_running = resource_tracker.ensure_running  # type: ignore[method-assign]
        return context
    context.set_forkserver_preload(RANK_PRELOAD)
    return context


def start_fork_server(preload: list[str] | None = None) -> None:
    """Start the fork server now, so that it imports torch while other work runs.

    Nothing waits here: the server preloads (``RANK_PRELOAD``, or
    ``preload``) in its own process, and the first process forked from it
    waits only for what is left of that (2-3 s of imports in a new
    interpreter). Where ranks come from the server that forked this process,
    that one is already running and nothing starts.
    """
    from multiprocessing import forkserver

    context = fork_server_context()  # may replace the instance's ensure_running
    if preload is not None and not reuse_parent_fork_server():
        context.set_forkserver_preload(preload)
    forkserver._forkserver.ensure_running()


def fork_server_pid() -> int | None:
    """The pid of the fork server this process started, while it runs (``None``
    when there is none, or when ranks come from the server that forked us)."""
    from multiprocessing import forkserver

    return getattr(forkserver._forkserver, "_forkserver_pid", None)


def stop_fork_server() -> None:
    """Stop the fork server (the next group starts a new one)."""
    from multiprocessing import forkserver

    forkserver._forkserver._stop()  # type: ignore[attr-defined]


class RankProcess:
    """A rank forked by the fork server, in its own process group, logging to a file."""

    def __init__(
        self, slot: int, control: str, token: str, env: dict[str, str], log: Path
    ):
        from infra.torch_rank import child_main

        self.name, self.log_path = f"rank {slot}", log
        self.process = fork_server_context().Process(
            target=child_main, args=(slot, control, token, env, str(log)), daemon=False
        )
        self.process.start()
        self.pid: int = self.process.pid  # type: ignore[assignment]

    def alive(self) -> bool:
        return self.process.is_alive()

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout_s: float) -> None:
        self.process.join(timeout=timeout_s)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(
                self.log_path.read_text(errors="replace").splitlines()[-lines:]
            )
        except OSError:
            return ""

    def stop(self, grace_s: float = 1.0) -> None:
        """SIGTERM its process group, then SIGKILL what is left after ``grace_s``."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.process.exitcode is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
            self.process.join(timeout=grace_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # anything the rank itself started

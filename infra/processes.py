"""A started process we own: stop it, and everything it spawned, by id.

Servers are started in their own process group so that stopping one also
stops its children (uvicorn workers, locust's greenlets), and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


def installed_command(name: str) -> str | None:
    """A command the kit installs (``ray``, ``py-spy``): the one next to this
    interpreter (the venv's, whether or not the venv is activated), else the
    one on PATH, else ``None``."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    return shutil.which(name)


class Proc(Protocol):
    """What :class:`OwnedProcess` needs of a process: ``subprocess.Popen``'s
    ``pid``, ``poll``, ``wait`` and ``returncode`` (``infra.warm_fork.ForkedPopen``
    has them too)."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class OwnedProcess:
    """A subprocess in its own process group, with its output in a log file."""

    proc: Proc
    log_path: Path
    name: str

    @classmethod
    def start(
        cls,
        args: Sequence[str],
        name: str,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> OwnedProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                list(args),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,  # its own process group: we stop exactly it
            )
        return cls(proc, log_path, name)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(
                self.log_path.read_text(errors="replace").splitlines()[-lines:]
            )
        except OSError:
            return ""

    def stop(self, grace_s: float = 5.0, sig: int = signal.SIGTERM) -> int | None:
        """Signal the process group, wait up to ``grace_s``, then kill it.

        A leader that already exited (``os._exit``, a crash) may have left
        children in its group: they are killed too. Linux hands out no pid
        that is still some group's id, so the group is still this one's.
        """
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=grace_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever it left behind
        return self.proc.returncode

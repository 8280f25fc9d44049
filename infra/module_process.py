"""Run a Python module in a process of its own: a JSON spec in, a JSON result out.

    result = run_module("infra.closed_loop", spec, name="loadgen", timeout_s=40, cpu=1)

The parent writes ``spec`` to a file and starts ``python -m <module> --spec
SPEC --out OUT [--cpu N]`` as an :class:`~infra.processes.OwnedProcess` (its
own process group, its output in a log file), with the repository root first
on ``PYTHONPATH`` (:func:`child_pythonpath`) so the module imports from this
checkout wherever the parent was started. The module's ``main`` is
:func:`module_main`: it pins itself to the core, computes (a coroutine runs
on uvloop, plain asyncio without it), and writes its result atomically, so
the parent never reads half a file.

The parent waits at most ``timeout_s`` and then stops the whole process
group, whatever happened. A failure says precisely what it was, by type:

- :class:`ModuleTimedOut`: still running after ``timeout_s`` (it was killed);
- :class:`ModuleExited`: it exited with a non-zero code;
- :class:`ModuleWroteNoResult`: it exited with 0 but wrote no result.

Each is a :class:`ModuleProcessError` that carries the process's ``pid`` and
the tail of its ``output``, which is also in the message.

:func:`run_bounded` is the lower half, for a program with a command line of
its own (locust): start it, wait at most ``timeout_s``, stop it; the caller
reads whatever it wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from common.paths import REPO_ROOT
from infra.cpus import pin
from infra.processes import OwnedProcess

STOP_GRACE_S = 2.0  # SIGTERM to SIGKILL when the process group is stopped

Result = dict[str, Any]  # a JSON object: a module's spec or its result
T = TypeVar("T")


class ModuleProcessError(RuntimeError):
    """A process run by :func:`run_module` or :func:`run_bounded` failed."""

    def __init__(self, message: str, *, name: str, pid: int, output: str):
        super().__init__(f"{message}; its last output:\n{output}")
        self.name, self.pid, self.output = name, pid, output


class ModuleTimedOut(ModuleProcessError):
    """Still running after its time bound; its process group was killed."""


class ModuleExited(ModuleProcessError):
    """Exited with a non-zero code (``returncode``)."""

    def __init__(
        self, message: str, *, returncode: int, name: str, pid: int, output: str
    ):
        super().__init__(message, name=name, pid=pid, output=output)
        self.returncode = returncode


class ModuleWroteNoResult(ModuleProcessError):
    """Exited without writing the result its parent waits for."""


def child_pythonpath(
    env: Mapping[str, str] | None = None, root: Path = REPO_ROOT
) -> str:
    """The ``PYTHONPATH`` a child process needs to import this kit.

    ``root`` first, then ``env``'s own ``PYTHONPATH`` (default: this
    process's), so the child imports ``common``, ``infra`` and ``labs`` from
    the same checkout as its parent whatever directory it starts in.
    """
    existing = (os.environ if env is None else env).get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (str(root), existing) if p)


@dataclass(frozen=True)
class Finished:
    """A process that ended within its time bound."""

    name: str
    pid: int
    returncode: int
    output: str  # the tail of its log


def run_bounded(
    args: Sequence[str],
    *,
    name: str,
    log_path: Path,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    grace_s: float = STOP_GRACE_S,
) -> Finished:
    """Run ``args`` in its own process group for at most ``timeout_s``.

    Args:
        args: the command line.
        name: what the process is, for messages ("loadgen", "locust").
        log_path: where its stdout and stderr go.
        timeout_s: the longest it may run.
        env: its environment (default: this process's), with
            :func:`child_pythonpath` as ``PYTHONPATH``.
        grace_s: between SIGTERM and SIGKILL when its group is stopped.

    Raises:
        ModuleTimedOut: it was still running after ``timeout_s``.
    """
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = child_pythonpath(child_env)
    process = OwnedProcess.start(args, name, log_path, env=child_env)
    timed_out = False
    try:
        process.proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        process.stop(grace_s=grace_s)  # its children too, even if it already exited
    output = process.log_tail()
    if timed_out:
        raise ModuleTimedOut(
            f"{name} did not finish within {timeout_s:.0f} s, so its process group "
            "was killed",
            name=name,
            pid=process.pid,
            output=output,
        )
    code = process.proc.returncode
    assert code is not None  # stopped above, so it has exited
    return Finished(name, process.pid, code, output)


def run_module(
    module: str,
    spec: Mapping[str, Any],
    *,
    name: str,
    timeout_s: float,
    cpu: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    """Run ``python -m module --spec SPEC --out OUT`` and return its result.

    Args:
        module: a module whose ``main`` is :func:`module_main`.
        spec: JSON-able options, written to the ``--spec`` file.
        name: what the process is, for messages.
        timeout_s: the longest it may run (start-up included).
        cpu: the core it pins itself to (``--cpu``), if any.
        env: its environment (default: this process's).

    Returns:
        The JSON object the module wrote to ``--out``.

    Raises:
        ModuleTimedOut: it was still running after ``timeout_s``.
        ModuleExited: it exited with a non-zero code.
        ModuleWroteNoResult: it exited with 0 and no result.
    """
    short = module.rsplit(".", 1)[-1]
    with tempfile.TemporaryDirectory(prefix=f"labkit-{short}-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec))
        cpu_args = ["--cpu", str(cpu)] if cpu is not None else []
        args = [sys.executable, "-m", module,
                "--spec", str(spec_path), "--out", str(out_path), *cpu_args]  # fmt: skip
        log_path = Path(tmp) / f"{short}.log"
        done = run_bounded(
            args, name=name, log_path=log_path, timeout_s=timeout_s, env=env
        )
        if done.returncode != 0:
            raise ModuleExited(
                f"{name} exited with code {done.returncode}",
                returncode=done.returncode, name=name, pid=done.pid, output=done.output,
            )  # fmt: skip
        if not out_path.exists():
            raise ModuleWroteNoResult(
                f"{name} exited with code 0 but wrote no result to {out_path}",
                name=name, pid=done.pid, output=done.output,
            )  # fmt: skip
        result: Result = json.loads(out_path.read_text())
        return result


def module_main(
    compute: Callable[[Result], Result | Coroutine[Any, Any, Result]],
    argv: Sequence[str] | None,
    description: str,
) -> int:
    """The command line of a module run by :func:`run_module`.

    Reads ``--spec``, pins this process to ``--cpu`` when given, and writes
    ``compute(spec)`` to ``--out`` through a temporary file and a rename. An
    ``async def compute`` runs on uvloop (plain asyncio without it).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spec", required=True, help="JSON file of the run's options")
    parser.add_argument("--out", required=True, help="where the JSON result goes")
    parser.add_argument("--cpu", type=int, help="pin this process to that core (Linux)")
    args = parser.parse_args(argv)
    spec = json.loads(Path(args.spec).read_text())
    pin(os.getpid(), args.cpu)
    result = compute(spec)
    if inspect.iscoroutine(result):
        result = run_event_loop(result)
    tmp = Path(args.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(args.out)
    return 0


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on uvloop (plain asyncio without it)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return asyncio.run(main)
    return uvloop.run(main)

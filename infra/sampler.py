"""Profile a running Python process from outside: py-spy, a sampling profiler.

    with sampling(server.process.pid, Path("score.txt"), seconds=8):
        run_load(server.url, "/score", payloads, duration_s=10)
    folded_shares(Path("score.txt"))                  # the widest functions
    svg = flame_svg(Path("score.txt").read_text())    # infra.flame_svg

py-spy reads the target's stacks ``rate`` times a second without touching
its code, so the server runs exactly what it runs in production. It writes
folded stacks, one line per call stack with its sample count (one frame per
function, not per line), which this module sums and ``infra.flame_svg``
draws: the table and the graph come from the same samples.

Only the thread holding the GIL is sampled (``--gil``). Without it, py-spy
also counts thread-pool threads that are only waiting for work (here they
took half the samples), which says nothing. The price: C code that runs
without the GIL (an SQLite query, a torch kernel) is not sampled at all, so
time spent there shows in no box; the service's own stage timings
(``/metrics``: features, model) measure it. Sampling pauses the target
briefly each time, so the server is slower while it is profiled: read the
shares, not the throughput, of a profiled run.

Attaching to another process needs the right to trace it: on Linux, root,
or the same user with ``kernel.yama.ptrace_scope`` 0; on macOS, ``sudo``.
When it cannot, :class:`SamplerError` carries py-spy's words and this advice.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from infra.flame_svg import folded_stacks
from infra.processes import installed_command


class SamplerError(RuntimeError):
    """py-spy is missing, could not attach, or wrote nothing."""


def py_spy() -> str:
    """The ``py-spy`` next to this interpreter (the venv's), else on PATH."""
    found = installed_command("py-spy")
    if found is None:
        raise SamplerError(
            "py-spy is not installed next to this Python or on PATH; install the kit "
            "(`make install`) or `pip install py-spy`."
        )
    return found


def record_command(
    pid: int, out: Path, seconds: float, *, rate: int = 100
) -> list[str]:
    """The py-spy command line that samples ``pid`` for ``seconds`` into ``out``."""
    return [
        py_spy(),
        "record",
        f"--pid={pid}",
        f"--duration={max(1, round(seconds))}",
        f"--rate={rate}",
        "--format=raw",  # folded stacks
        f"--output={out}",
        "--gil",
        "--nolineno",  # one box per function, not one per line it was on
    ]


@contextlib.contextmanager
def sampling(
    pid: int,
    out: Path,
    seconds: float,
    *,
    rate: int = 100,
    timeout_s: float = 30.0,
) -> Iterator[None]:
    """Sample ``pid`` for ``seconds`` while the block runs; the folded stacks are in ``out``.

    The block should keep the target busy for at least ``seconds`` (the
    sampling starts at once and stops on its own). On leaving, waits for
    py-spy to write ``out`` (at most ``seconds + timeout_s``).

    Raises:
        SamplerError: py-spy could not attach or wrote no profile; the
            message carries py-spy's own words and what to do.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    spy = subprocess.Popen(
        record_command(pid, out, seconds, rate=rate),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield
        said, _ = spy.communicate(timeout=seconds + timeout_s)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        hint = (
            " Attaching needs the right to trace the process: run as root or with "
            "sudo (macOS), or allow it on Linux with "
            "`sudo sysctl kernel.yama.ptrace_scope=0`; in Docker, start the "
            "container with `--cap-add SYS_PTRACE`."
            if "permission" in (said or "").lower()
            else ""
        )
        raise SamplerError(
            f"py-spy wrote no profile of process {pid} (exit code "
            f"{spy.returncode}): {(said or '').strip()[-600:]}.{hint}"
        )


def folded_shares(
    path: Path, top: int = 20, below: float = 0.95
) -> list[tuple[str, float]]:
    """The functions with the largest inclusive share of the samples in a folded file.

    Each function counts once per stack (recursion does not count twice);
    the share is of all samples. Functions above ``below`` are left out: the
    trunk every sample passes through (the interpreter, the server's loop)
    says nothing. Names are ``function (file)``.
    """
    totals: dict[str, int] = {}
    samples = 0
    for stack, n in _stacks(path):
        samples += n
        for name in {_function(frame) for frame in stack}:
            totals[name] = totals.get(name, 0) + n
    if not samples:
        return []
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return [(name, n / samples) for name, n in ranked if n / samples <= below][:top]


def package_shares(path: Path) -> list[tuple[str, float]]:
    """The share of the samples spent in each package's own code (the innermost frame).

    ``labs/online_serving/routes.py`` counts for ``labs/online_serving``,
    ``starlette/routing.py`` for ``starlette``; the standard library's
    ``asyncio`` is itself; a frame with no folder in its file (a script's own
    top level, frozen or native code) is ``other``.
    """
    totals: dict[str, int] = {}
    samples = 0
    for stack, n in _stacks(path):
        samples += n
        package = _package(stack[-1])
        totals[package] = totals.get(package, 0) + n
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return [(name, n / samples) for name, n in ranked] if samples else []


def _stacks(path: Path) -> Iterator[tuple[list[str], int]]:
    return folded_stacks(path.read_text())


def _function(frame: str) -> str:
    """``score (labs/online_serving/routes.py:131)`` -> ``score (routes.py)``."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1].rstrip(")")
    return f"{name} ({file})" if file else name


def _package(frame: str) -> str:
    """``... (labs/online_serving/routes.py:131)`` -> ``labs/online_serving``."""
    where = frame.partition(" (")[2].rsplit(":", 1)[0]
    parts = where.split("/")
    if len(parts) < 2 or where.startswith("<"):
        return "other"
    return "/".join(parts[:2]) if parts[0] == "labs" else parts[0]

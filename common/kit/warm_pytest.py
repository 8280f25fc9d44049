"""Run pytest in processes forked from one warm server: imports are paid once.

``labkit verify`` runs pytest a few hundred times (each milestone stubbed, each
known wrong answer). A fresh interpreter spends about three seconds importing
numpy, pandas, torch, scikit-learn and pytest before the first test, often
more than the tests themselves. A *fork server* (Python's ``forkserver``
start method) imports them once; each run is a fork of it, with its own
environment, working directory and output file, so runs stay as isolated as
subprocesses: candidate code that crashes or hangs takes down only its fork.

Only third-party packages (and ``infra.torch_rank``, which imports no lab)
are preloaded, never ``labs`` or ``common``: the workspace overlay must be
installed before any lab is imported, in the fork. The server has what a
``torch.distributed`` rank needs, so a run forks its ranks from it too
(``infra.rank_process.REUSE_VAR``) instead of starting a fork server of its
own: ``labkit verify distributed_training`` took 165-196 s without that
(most of it importing torch in each run's own server), 42 s with it. The
uvicorn servers a run starts are forked from it as well (``infra.warm_fork``):
``labkit verify online_serving`` used 177 and 184 CPU-seconds without that,
145 and 134 with it.
Used on Linux; elsewhere (macOS forbids forking some system frameworks once
loaded) runs fall back to plain subprocesses.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.rank_process import RANK_PRELOAD, REUSE_VAR, take_on_caller

PRELOAD = [
    "numpy",
    "pandas",
    "scipy.stats",
    "sklearn.linear_model",
    "sklearn.metrics",
    # torch, and what the first optimiser imports lazily (torch._dynamo: about
    # a CPU-second, sympy and all) and a rank needs: once here, not per run.
    *RANK_PRELOAD,
    "pyarrow.parquet",
    "duckdb",
    "matplotlib.pyplot",
    "pytest",
    "hypothesis",
    "pytest_timeout",
    "fastapi",
    "httpx",
    # what a served app adds (a run's uvicorn servers are forked from here too:
    # infra.warm_fork)
    "infra.warm_fork",  # records the server's own sys.path, for its forks
    "uvicorn.main",
    "pydantic_settings",
    "prometheus_client",
    "sse_starlette",
]


def available() -> bool:
    """Whether warm runs are supported here (Linux with the forkserver method)."""
    return sys.platform.startswith("linux") and (
        "forkserver" in multiprocessing.get_all_start_methods()
    )


def _child(args: list[str], env: dict[str, str], cwd: str, log: str, nice: int) -> None:
    if nice:
        os.nice(nice)
    take_on_caller(env, log, mode=0o600, cwd=cwd)
    sys.path.insert(0, cwd)  # as `python -m pytest` run in cwd would have it
    import pytest

    code = 3
    try:
        code = int(pytest.main(args))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # os._exit skips atexit: clean up what the run left that atexit would.
        if (servers := sys.modules.get("infra.uvicorn_server")) is not None:
            servers.remove_logs()
        os._exit(code)


class WarmPytest:
    """Launch ``pytest <args>`` as forks of one server that preloaded ``PRELOAD``."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._start = threading.Lock()  # Process.start is not thread-safe

    def run(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log: Path,
        nice: int = 0,
    ) -> int:
        """Run pytest with ``args`` (after ``python -m pytest``); its exit code.

        ``nice``: how much to lower the run's CPU priority (``os.nice``).
        """
        run_env = {**env, REUSE_VAR: "1"}  # this server has what a rank needs
        process = self._context.Process(
            target=_child, args=(list(args), run_env, str(cwd), str(log), nice)
        )
        with self._start:
            process.start()
        process.join()
        return process.exitcode if process.exitcode is not None else 1

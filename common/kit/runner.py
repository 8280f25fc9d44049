"""Run a lab's milestone tests in a fresh pytest process and collect outcomes.

Each run is a subprocess so that candidate code that crashes, hangs or leaks
state cannot take the harness down, and so the workspace overlay applies from
the first import (it travels in ``LABKIT_OVERLAY``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.kit.overlay import overlay_env
from common.kit.pytest_plugin import REPORT_VAR
from common.kit.warm_pytest import WarmPytest
from infra.module_process import child_pythonpath

_PROGRESS_EVERY_S = 0.5
# Every run loads only the plugins the kit's tests use, instead of every
# installed one: finding those scans every installed package's metadata and
# imports each, 0.6 s of a run here (0.83 s against 0.25 s for one tiny
# test). It also keeps out schemathesis' plugin (for the OpenAPI fuzz, not a
# milestone test), which blanks the arguments of hypothesis' falsifying
# examples, the line a candidate pastes to reproduce a failure.
_PLUGINS = ["-p", "pytest_timeout", "-p", "_hypothesis_pytestplugin"]
# A lean run (``labkit verify``'s) reads only the outcomes, never pytest's
# report: tracebacks in the cheap native style.
_LEAN_ARGS = ["--tb=native"]
# ... and hypothesis reports the first failing example it finds, unshrunk
# (the profile is the kit's tests' own: tests/conftest.py).
VERDICT_PROFILE = "labkit-verdict"


@dataclass(frozen=True)
class TestOutcome:
    nodeid: str
    file: str | None
    outcome: str  # passed | failed | skipped | error
    given: bool = False
    failure: dict[str, Any] | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in {"passed", "skipped"}


@dataclass
class RunResult:
    outcomes: list[TestOutcome] = field(default_factory=list)
    returncode: int = 0
    output: str = ""

    def for_files(self, files: Sequence[Path]) -> list[TestOutcome]:
        wanted = {str(Path(f).resolve()) for f in files}
        return [o for o in self.outcomes if o.file is not None and o.file in wanted]


def run_pytest(
    files: Sequence[Path],
    *,
    root: Path,
    overlay: Mapping[str, Path] | None = None,
    timeout: int | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    warm: WarmPytest | None = None,
    on_progress: Callable[[list[TestOutcome], int | None], None] | None = None,
    nice: int = 0,
    lean: bool = False,
    pycache: Path | None = None,
) -> RunResult:
    """Run pytest on ``files`` with the overlay and return every test's outcome.

    Args:
        files: test files to run, in order.
        root: the directory pytest runs in (the kit's root).
        overlay: import name → workspace folder for the labs to take from the
            workspace; empty or ``None`` tests the reference.
        timeout: per-test timeout in seconds (pytest-timeout); ``None`` keeps
            the project's configured default.
        extra_args: more pytest arguments (e.g. ``["--collect-only"]``).
        env: extra environment variables.
        warm: run as a fork of this warm server instead of a new interpreter
            (``common.kit.warm_pytest``; same isolation, seconds faster).
        on_progress: called about twice a second while the tests run, with the
            outcomes so far and the number of tests collected.
        nice: run at this much lower CPU priority (``labkit verify`` lowers its
            many short runs so its one Ray run, the longest path, goes first).
        lean: leave out what only a reader of pytest's output needs (see
            ``_LEAN_ARGS``); the outcomes are the same.
        pycache: cache bytecode in this folder (``PYTHONPYCACHEPREFIX``), even
            where ``PYTHONDONTWRITEBYTECODE`` is set, so that many runs compile
            the kit and rewrite the tests' asserts once, not once each; the
            source tree stays clean.
    """
    with tempfile.TemporaryDirectory(prefix="labkit-") as tmp:
        report = Path(tmp) / "report.jsonl"
        run_env = overlay_env(overlay or {})
        run_env.update(env or {})
        run_env[REPORT_VAR] = str(report)
        run_env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # see _PLUGINS
        if lean:
            run_env["HYPOTHESIS_PROFILE"] = VERDICT_PROFILE
        if pycache is not None:
            run_env.pop("PYTHONDONTWRITEBYTECODE", None)
            run_env["PYTHONPYCACHEPREFIX"] = str(pycache)
        # Make the kit importable even when the harness runs from elsewhere.
        run_env["PYTHONPATH"] = child_pythonpath(run_env, root)
        args = [
            "-p",
            "common.kit.pytest_plugin",
            "-p",
            "no:cacheprovider",
            *_PLUGINS,
            "-q",
            "--no-header",
            "-rN",
            *(_LEAN_ARGS if lean else []),
            *(["--timeout", str(timeout)] if timeout else []),
            *extra_args,
            *(str(f) for f in files),
        ]
        log = Path(tmp) / "output.log"
        if warm is not None:
            returncode = warm.run(args, run_env, root, log, nice=nice)
        else:
            with log.open("wb") as out:
                niced = (
                    ["nice", "-n", str(nice)] if nice and shutil.which("nice") else []
                )
                proc = subprocess.Popen(
                    [*niced, sys.executable, "-m", "pytest", *args],
                    cwd=root,
                    env=run_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
                while True:
                    try:
                        returncode = proc.wait(timeout=_PROGRESS_EVERY_S)
                        break
                    except subprocess.TimeoutExpired:
                        if on_progress is not None:
                            on_progress(*_read_report(report))
        output = log.read_text(errors="replace") if log.exists() else ""
        outcomes, _ = _read_report(report)
        return RunResult(outcomes, returncode, output)


def _read_report(report: Path) -> tuple[list[TestOutcome], int | None]:
    """The outcomes written so far, and how many tests were collected (if known)."""
    outcomes: list[TestOutcome] = []
    collected = None
    try:
        lines = report.read_text().splitlines()
    except OSError:
        return outcomes, collected
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:  # a line still being written
            continue
        if "collected" in data:
            collected = int(data["collected"])
            continue
        outcomes.append(
            TestOutcome(
                nodeid=data["nodeid"],
                file=data.get("file"),
                outcome=data["outcome"],
                given=data.get("given", False),
                failure=data.get("failure"),
                reason=data.get("reason", ""),
            )
        )
    return outcomes, collected

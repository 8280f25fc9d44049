"""Run a lab's milestone tests in a fresh pytest process and collect outcomes.

Each run is a subprocess so that candidate code that crashes, hangs or leaks
state cannot take the harness down, and so the workspace overlay applies from
the first import (it travels in ``LABKIT_OVERLAY``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.kit.overlay import overlay_env
from common.kit.pytest_plugin import REPORT_VAR
from infra.module_process import child_pythonpath


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
    """
    with tempfile.TemporaryDirectory(prefix="labkit-") as tmp:
        report = Path(tmp) / "report.jsonl"
        run_env = overlay_env(overlay or {})
        run_env.update(env or {})
        run_env[REPORT_VAR] = str(report)
        # Make the kit importable even when the harness runs from elsewhere.
        run_env["PYTHONPATH"] = child_pythonpath(run_env, root)
        args = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "common.kit.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            "-rN",
            *(["--timeout", str(timeout)] if timeout else []),
            *extra_args,
            *(str(f) for f in files),
        ]
        proc = subprocess.run(
            args, cwd=root, env=run_env, capture_output=True, text=True, check=False
        )
        outcomes = []
        if report.exists():
            for line in report.read_text().splitlines():
                data = json.loads(line)
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
        return RunResult(outcomes, proc.returncode, proc.stdout + proc.stderr)

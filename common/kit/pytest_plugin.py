"""A pytest plugin that records each test's outcome for the harness.

``labkit check`` and ``labkit verify`` run pytest in a subprocess with
``-p common.kit.pytest_plugin`` and ``LABKIT_REPORT_FILE`` set; this plugin
appends one JSON line per test (and per collection error) to that file. For a
failure it keeps the one place a candidate needs: the deepest frame in their
own workspace code (else in the test), and the exception's first line.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from common.kit.overlay import ENV_VAR as OVERLAY_VAR

REPORT_VAR = "LABKIT_REPORT_FILE"
_MESSAGE_LIMIT = 300  # characters of one shown line
_DETAIL_LINES = 12  # lines of an assertion's explanation (values, shapes)


def _overlay_dirs() -> list[Path]:
    raw = os.environ.get(OVERLAY_VAR)
    if not raw:
        return []
    return [Path(folder).resolve() for folder in json.loads(raw).values()]


def _example(notes: list[str]) -> list[str]:
    """The falsifying example's lines, without hypothesis' replay blob.

    On a CI machine hypothesis also prints "@reproduce_failure(...)": a decorator
    for the kit's own test file, which a candidate should not edit.
    """
    lines = [
        line.rstrip()
        for note in notes
        for line in note.splitlines()
        if not line.startswith("You can reproduce this test case")
    ]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _is_timeout(text: str) -> bool:
    return "Timeout" in text and "pytest-timeout" in text


def _condense(
    excinfo: pytest.ExceptionInfo[BaseException], test_file: Path
) -> dict[str, Any]:
    """The candidate-facing location and message of a failure."""
    candidate_dirs = _overlay_dirs()
    location: tuple[str, int] | None = None
    test_location: tuple[str, int] | None = None
    for entry in excinfo.traceback:
        path = Path(str(entry.path)).resolve()
        if any(path.is_relative_to(d) for d in candidate_dirs):
            location = (str(path), entry.lineno + 1)
        elif path == test_file.resolve():
            test_location = (str(path), entry.lineno + 1)
    where = location or test_location
    text = excinfo.exconly().strip()
    # Hypothesis attaches its falsifying example as an exception note, which
    # exconly() appends: show it apart, whole, so it can be pasted and rerun.
    notes = [str(n) for n in getattr(excinfo.value, "__notes__", None) or []]
    for note in notes:
        text = text.replace(note, "")
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    timeout = _is_timeout(excinfo.exconly())
    if timeout:
        lines = [
            "stopped by the per-test timeout: the code did not finish in time; it may "
            "be stuck in a loop or waiting for something that never happens"
        ]
    details = [_cut(line) for line in lines[1 : 1 + _DETAIL_LINES]]
    if len(lines) > 1 + _DETAIL_LINES:
        details.append(
            f"… {len(lines) - 1 - _DETAIL_LINES} more lines (`labkit check -v` shows all)"
        )
    return {
        "file": where[0] if where else None,
        "line": where[1] if where else None,
        "message": _cut(lines[0] if lines else excinfo.typename),
        "details": details,
        "example": _example(notes),
        "exception": excinfo.typename,
        "timeout": timeout,
    }


def _cut(line: str) -> str:
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 1] + "…"


class Recorder:
    def __init__(self, path: Path):
        self.path = path
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.given: set[str] = set()

    def _write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[Any]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report = outcome.get_result()
        if item.get_closest_marker("given") is not None:
            self.given.add(item.nodeid)
        record = self.outcomes.setdefault(
            item.nodeid,
            {
                "nodeid": item.nodeid,
                "file": str(item.path),
                "outcome": "passed",
                "duration": 0.0,
            },
        )
        record["duration"] += report.duration
        if report.skipped and record["outcome"] == "passed":
            record["outcome"] = "skipped"
            record["reason"] = (
                str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
            )
        if report.failed and record["outcome"] != "failed":
            record["outcome"] = "failed"
            record["when"] = report.when
            if call.excinfo is not None:
                record["failure"] = _condense(call.excinfo, Path(str(item.path)))

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        record = self.outcomes.pop(nodeid, None)
        if record is not None:
            record["given"] = nodeid in self.given
            self._write(record)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._write({"collected": len(session.items)})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = str(report.longrepr)
            self._write(
                {
                    "nodeid": report.nodeid,
                    "file": str(Path(report.fspath).resolve())
                    if report.fspath
                    else None,
                    "outcome": "error",
                    "when": "collect",
                    "failure": _collect_failure(text),
                }
            )


def _collect_failure(text: str) -> dict[str, Any]:
    """Pick the candidate's file and line out of a collection error's text."""
    candidate_dirs = _overlay_dirs()
    where: tuple[str, int] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("E "):
            stripped = stripped[2:].strip()
        # Lines look like 'File "/path/x.py", line 12' or '/path/x.py:12: in <module>'.
        if stripped.startswith('File "'):
            path_text, _, rest = stripped[6:].partition('", line ')
            line_no = rest.split(",")[0]
        elif ".py:" in stripped:
            path_text, _, rest = stripped.partition(".py:")
            path_text += ".py"
            line_no = rest.split(":")[0]
        else:
            continue
        if line_no.isdigit():
            path = Path(path_text).resolve()
            if any(path.is_relative_to(d) for d in candidate_dirs) or where is None:
                where = (str(path), int(line_no))
    last = [line for line in text.strip().splitlines() if line.strip()][-1:]
    message = last[0].strip().lstrip("E ").strip() if last else "collection failed"
    return {
        "file": where[0] if where else None,
        "line": where[1] if where else None,
        "message": message[:_MESSAGE_LIMIT],
        "exception": message.split(":")[0],
        "timeout": False,
    }


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get(REPORT_VAR)
    if path:
        config.pluginmanager.register(Recorder(Path(path)), "labkit-recorder")


# The session that ended, for ``_exit_at_once``: its exit status is final by then.
_ENDED: list[pytest.Session] = []


def pytest_sessionfinish(session: pytest.Session) -> None:
    _ENDED.append(session)


def _exit_at_once() -> None:
    """End a harness run without the interpreter's own teardown.

    With torch, pandas and Ray imported, Python's finalisation (freeing every
    module and object one by one) took 1.3-1.4 s after the last test of a
    ``labkit check``, a tenth of a short one, and nothing reads what it
    frees. Registered when this plugin is imported, before any test imports
    anything, so every ``atexit`` handler of the tests' packages (Ray's
    shutdown, multiprocessing's, tempfile's) has run when this one does.
    Only for the harness's runs (``LABKIT_REPORT_FILE`` set), and only after
    a session ended: a usage error exits the usual way.
    """
    if os.environ.get(REPORT_VAR) and _ENDED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(_ENDED[-1].exitstatus))


atexit.register(_exit_at_once)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything imported so far out of the garbage collector's sight.

    With torch and pandas imported, one full ``gc.collect()`` walks millions
    of objects; pytest runs two at the end of every session (to report
    exceptions raised in ``__del__``), which cost about 0.35 s per run, a
    third of a short run. Nothing imported or collected is garbage, so
    ``gc.freeze()`` parks it; objects the tests create are still collected.
    """
    gc.freeze()

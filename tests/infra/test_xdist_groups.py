"""`make test`'s scheduling: a pytest-xdist group runs on one worker.

tests/conftest.py puts every Ray test in the group ``ray`` and each lab's
other tests in the lab's group, so one worker starts Ray and builds a lab's
session fixtures. pytest 9.2 silently broke this for pytest-xdist 3.8 (every
test was scheduled alone); this runs two workers on a group of tests and
checks that they all ran on the same one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = """
import os, pytest

@pytest.mark.parametrize("n", range(8))
@pytest.mark.xdist_group("together")
def test_grouped(n):
    with open(os.environ["GROUP_RECORD"], "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")

@pytest.mark.parametrize("n", range(8))
def test_alone(n):
    pass
"""


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    (tmp_path / "test_groups.py").write_text(TESTS)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            str(tmp_path / "test_groups.py"),
        ],
        cwd=tmp_path,
        env={**os.environ, "GROUP_RECORD": str(tmp_path / "workers")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    workers = (tmp_path / "workers").read_text().split()
    assert len(workers) == 8
    assert len(set(workers)) == 1, (
        f"the group ran on workers {sorted(set(workers))}: pytest-xdist's "
        "--dist loadgroup is not grouping (a pytest version it does not support?)"
    )

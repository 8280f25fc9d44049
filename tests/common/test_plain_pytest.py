"""Bare ``pytest`` from the repository finds the kit, not ``tests/common``.

The ``pytest`` command, unlike ``python -m pytest``, does not put the
current folder on ``sys.path``; pytest then puts ``tests/`` there for the
root conftest, and ``tests/common`` (a folder of tests, no ``__init__.py``)
would shadow the installed ``common`` package. This runs that very command,
the one next to this interpreter.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTEST = Path(sys.executable).with_name("pytest")


@pytest.mark.skipif(not PYTEST.exists(), reason=f"no pytest command at {PYTEST}")
def test_bare_pytest_collects_with_the_kits_own_common_package() -> None:
    run = subprocess.run(
        [
            str(PYTEST),
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/common/test_timing.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "test_timing.py::" in run.stdout

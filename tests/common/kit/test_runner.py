"""run_pytest's lean runs (verify's): the same outcomes, bytecode kept out of the tree."""

from __future__ import annotations

import pytest

from common.kit.runner import RunResult, run_pytest
from common.kit.warm_pytest import WarmPytest, available


def _outcomes(run: RunResult) -> list[tuple[str, str, str]]:
    return sorted(
        (o.nodeid, o.outcome, (o.failure or {}).get("message", ""))
        for o in run.outcomes
    )


@pytest.mark.parametrize("warm", [False, True], ids=["subprocess", "warm-fork"])
def test_a_lean_run_reports_what_a_full_run_does_and_caches_bytecode_outside_the_tree(
    kit, tmp_path, monkeypatch, warm
):
    if warm and not available():
        pytest.skip("warm runs are Linux-only (forkserver)")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # as on this kit's CI machine
    arith = kit.root / "fixturelabs" / "toy" / "arith.py"
    arith.write_text(arith.read_text().replace("return a + b", "return a - b"))
    files = kit.test_paths(kit.lab("toy").milestone("m1"))
    server = WarmPytest() if warm else None

    full = run_pytest(files, root=kit.root, warm=server)
    cache = tmp_path / "pycache"
    lean = run_pytest(files, root=kit.root, warm=server, lean=True, pycache=cache)

    assert _outcomes(lean) == _outcomes(full)
    assert any("assert -1 == 5" in message for *_, message in _outcomes(lean))
    assert "Traceback (most recent call last)" in lean.output  # native tracebacks
    cached = {p.name.split(".")[0] for p in cache.rglob("*.pyc")}
    assert {"arith", "check_m1_add"} <= cached  # the lab, and the rewritten test
    assert not list(kit.root.rglob("__pycache__"))  # nothing written into the tree


EXITING = """
import atexit
from pathlib import Path

atexit.register(lambda: Path({mark!r}).write_text("ran"))


def test_passes():
    pass


def test_fails():
    assert 1 == 2
"""


def test_a_harness_run_that_skips_the_interpreters_teardown_loses_nothing(
    kit, tmp_path
):
    """The plugin ends a run with ``os._exit`` after the last ``atexit`` handler.

    What is skipped (Python freeing every module, 1.3 s after a check) shows
    only in time; what must survive is tested: pytest's exit status, its
    summary, the outcomes, and the tests' own ``atexit`` handlers.
    """
    mark = tmp_path / "atexit-ran"
    test_file = kit.root / "tests" / "test_exiting.py"
    test_file.write_text(EXITING.format(mark=str(mark)))

    run = run_pytest([test_file], root=kit.root)

    assert run.returncode == 1, run.output
    assert sorted(o.outcome for o in run.outcomes) == ["failed", "passed"]
    assert "1 failed, 1 passed" in run.output  # flushed before the exit
    assert mark.read_text() == "ran"  # registered after the plugin's: ran first

"""The candidate's loop through the real `labkit` commands, on the fixture kit."""

import pytest
from typer.testing import CliRunner

from common.kit import cli, cli_shell


@pytest.fixture
def labkit(kit, monkeypatch, wide_cli_consoles):
    monkeypatch.setattr(cli_shell, "load_kit", lambda workspace_path: kit)
    monkeypatch.setattr(cli_shell, "repo_kit", lambda: kit)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(
            cli.app, list(args), catch_exceptions=False, env={"COLUMNS": "200"}
        )

    return invoke


def test_start_check_fix_check(labkit, kit):
    result = labkit("start", "toy")
    assert result.exit_code == 0 and "Started toy" in result.output

    again = labkit("start", "toy")
    assert again.exit_code == 2 and "already holds your work" in again.output

    failing = labkit("check", "toy")
    assert failing.exit_code == 1
    assert "✗ m1" in failing.output and "arith.py:7" in failing.output
    assert "NotImplementedError: toy m1: Add two numbers" in failing.output
    assert "labkit hint toy m1" in failing.output

    arith = kit.workspace / "toy" / "arith.py"
    arith.write_text(
        arith.read_text()
        .replace("raise NotImplementedError('toy m1: Add two numbers')", "return a + b")
        .replace(
            "raise NotImplementedError('toy m2: divide the total by the count')",
            "return total(values) / len(values)",
        )
        .replace(
            "raise NotImplementedError('toy m3: Count down')",
            "out.extend(range(n, 0, -1))",
        )
    )
    passing = labkit("check", "toy")
    assert passing.exit_code == 0, passing.output
    assert "All milestones pass" in passing.output

    listing = labkit("list")
    assert "✓ m1" in listing.output and "✓ m3" in listing.output


def test_hints_advance_one_per_call(labkit):
    labkit("start", "toy")
    first, second, third = (labkit("hint", "toy", "m1") for _ in range(3))
    assert "hint 1/2" in first.output and "Use the + operator." in first.output
    assert "hint 2/2" in second.output and "return a + b" in second.output
    assert "hint 2/2" in third.output  # stays on the last hint


def test_diff_shows_only_passed_milestones(labkit, kit):
    labkit("start", "toy")
    arith = kit.workspace / "toy" / "arith.py"
    arith.write_text(
        arith.read_text().replace(
            "raise NotImplementedError('toy m1: Add two numbers')", "return b + a"
        )
    )
    labkit("check", "toy")
    shown = labkit("diff", "toy")
    assert "-    return b + a" in shown.output and "+    return a + b" in shown.output
    assert "mean" not in shown.output  # m2 not passed: not revealed
    assert "BEGIN SOLUTION" not in shown.output


def test_reset_keeps_a_backup(labkit, kit):
    labkit("start", "toy")
    (kit.workspace / "toy" / "arith.py").write_text("# mine\n")
    result = labkit("reset", "toy")
    assert result.exit_code == 0 and "Backed up" in result.output
    [backup] = (kit.workspace / ".backups").iterdir()
    assert (backup / "arith.py").read_text() == "# mine\n"


def test_unknown_lab_is_a_clear_error(labkit):
    result = labkit("check", "nope")
    assert result.exit_code == 2 and "valid labs: toy, weak" in result.output


def test_check_before_start_says_what_to_do(labkit):
    result = labkit("check", "toy")
    assert result.exit_code == 2 and "labkit start toy" in result.output


def test_verify_command_fails_on_a_weak_lab(labkit):
    assert labkit("verify", "weak").exit_code == 1


def test_watch_polls_and_rechecks_on_save(kit):
    import threading
    import time

    from common.kit import workspace
    from common.kit.watch import watch

    folder, _ = workspace.start(kit, kit.lab("toy"))
    runs = []

    def touch_later():
        time.sleep(1.0)
        (folder / "arith.py").write_text(
            (folder / "arith.py").read_text() + "\n# saved\n"
        )

    threading.Thread(target=touch_later, daemon=True).start()
    mode = watch(
        folder,
        lambda: runs.append(time.monotonic()),
        poll=True,
        max_runs=2,
        idle_timeout_s=0.5,
    )
    assert mode == "polling" and len(runs) == 2


def test_demo_runs_each_lab_with_its_demo_keywords(labkit, kit, monkeypatch, tmp_path):
    import json

    monkeypatch.syspath_prepend(str(kit.root))
    monkeypatch.setenv("LABKIT_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "data"))

    result = labkit("demo", "--preset", "tiny")
    assert result.exit_code == 0, result.output
    page = json.loads((tmp_path / "results" / "toy" / "results.json").read_text())
    # --preset reaches every lab; the lab.toml `demo` keywords are kept
    assert page["figures"] == {
        "preset": "tiny",
        "rounds": 2,
        "countdown": [3, 2, 1],
        "sum": 3,
    }
    report = (tmp_path / "results" / "REPORT.md").read_text()
    assert "Toy arithmetic" in report and "ShopStream" in report


def _solve_m1(kit, body="return a + b"):
    arith = kit.workspace / "toy" / "arith.py"
    arith.write_text(
        arith.read_text().replace(
            "raise NotImplementedError('toy m1: Add two numbers')", body
        )
    )


def test_reset_prints_how_to_undo_it_and_restore_brings_the_work_back(labkit, kit):
    labkit("start", "toy")
    (kit.workspace / "toy" / "arith.py").write_text("# mine\n")
    reset = labkit("reset", "toy")
    assert "Undo with: labkit restore toy toy-" in reset.output
    restored = labkit("restore", "toy")
    assert restored.exit_code == 0, restored.output
    assert (kit.workspace / "toy" / "arith.py").read_text() == "# mine\n"
    # The fresh starter it replaced was backed up, not lost.
    assert "Backed up the copy it replaced" in restored.output
    missing = labkit("restore", "toy", "toy-19990101")
    assert (
        missing.exit_code == 2 and "no backup 'toy-19990101' of toy" in missing.output
    )


def test_restore_without_a_backup_says_how_backups_are_made(labkit):
    result = labkit("restore", "toy")
    assert result.exit_code == 2 and "`labkit reset`" in result.output


def test_status_names_the_workspace_it_looked_in(labkit, kit):
    result = labkit("status")
    assert f"Workspace: {kit.workspace}" in " ".join(result.output.split())


def test_diff_shows_whole_regions_and_names_formatting_only_changes(labkit, kit):
    labkit("start", "toy")
    _solve_m1(kit, "return (a +\n            b)  # same tree")
    labkit("check", "toy", "--milestone", "m1")
    shown = labkit("diff", "toy")
    assert "the same code as the reference, formatted differently" in shown.output


def test_mistakes_open_only_after_the_milestone_passes(labkit, kit):
    labkit("start", "toy")
    locked = labkit("hint", "toy", "m1", "--mistakes")
    assert locked.exit_code == 2 and "open once you pass it" in locked.output
    _solve_m1(kit)
    labkit("check", "toy", "--milestone", "m1")
    shown = labkit("hint", "toy", "m1", "--mistakes")
    assert shown.exit_code == 0, shown.output
    assert (
        "Subtracts instead of adding" in shown.output and "return a - b" in shown.output
    )


def test_a_pseudo_code_hint_is_shown_as_a_sketch(labkit, kit, monkeypatch):
    manifest = kit.root / "fixturelabs" / "toy" / "lab.toml"
    manifest.write_text(
        manifest.read_text().replace('"Sum, then divide."', '"`~mean = Σx / n`"')
    )
    fresh = type(kit)(root=kit.root, package=kit.package, workspace=kit.workspace)
    monkeypatch.setattr(cli_shell, "load_kit", lambda workspace_path: fresh)
    shown = labkit("hint", "toy", "m2")
    assert "`mean = Σx / n` (sketch)" in shown.output and "~" not in shown.output


@pytest.fixture
def fresh_imports(kit, monkeypatch, tmp_path):
    """`--mine` in this process: no fixture lab imported yet, and no finder left after."""
    import sys

    for name in [m for m in sys.modules if m.split(".")[0] == "fixturelabs"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.syspath_prepend(str(kit.root))
    monkeypatch.setenv("LABKIT_RESULTS", str(tmp_path / "results"))
    # Recorded, so that the overlay --mine sets is removed again afterwards.
    monkeypatch.setenv("LABKIT_OVERLAY", "{}")
    monkeypatch.delenv("LABKIT_OVERLAY")
    yield
    for name in [m for m in sys.modules if m.split(".")[0] == "fixturelabs"]:
        del sys.modules[name]


def test_run_mine_skips_what_needs_a_stubbed_milestone_and_names_the_rest(
    labkit, kit, fresh_imports, tmp_path
):
    import json

    labkit("start", "toy")
    _solve_m1(kit)
    # m2 and m3 are still stubs: the countdown (m3) is skipped, the sum (m1) runs.
    result = labkit("run", "toy", "--mine")
    assert result.exit_code == 0, result.output
    assert "skipped the countdown: needs m3" in " ".join(result.output.split())
    page = json.loads((tmp_path / "results" / "toy" / "results.json").read_text())
    assert page["figures"]["sum"] == 3 and "countdown" not in page["figures"]


def test_run_mine_that_reaches_a_stub_names_the_milestone(labkit, fresh_imports):
    labkit("start", "toy")
    result = labkit("run", "toy", "--mine")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert (
        "reached code your copy does not implement yet (toy m1: Add two numbers)"
        in text
    )
    assert "still stubbed in your copy: m1, m2, m3" in text


def test_bench_comparison_alternates_and_reports_medians_and_ratios(
    kit, monkeypatch, tmp_path
):
    from common.kit import bench_compare

    monkeypatch.setenv("LABKIT_RESULTS", str(tmp_path / "results"))
    calls = []

    def fake(kit_, lab, *, mine, preset):
        calls.append("yours" if mine else "reference")
        n = len(calls)
        return {
            "rows_per_s": 100.0 * n if mine else 200.0,
            "ok": True,
            "p": {"p99_ms": 2.0},
        }

    monkeypatch.setattr(bench_compare, "bench_once", fake)
    results = bench_compare.compare_bench(kit, kit.lab("toy"), rounds=3)
    assert calls == ["reference", "yours", "yours", "reference", "reference", "yours"]
    rows = results.figures["rows_per_s"]
    assert (
        rows["reference"] == 200.0 and rows["yours"] == 300.0
    )  # median of 200, 300, 600
    assert rows["ratio"] == 1.5
    assert results.figures["p.p99_ms"]["ratio"] == 1.0
    assert "ok" not in results.figures  # not a number

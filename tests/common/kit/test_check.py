"""`labkit check`: fail on the starter with a useful message, pass once fixed."""

import io

from rich.console import Console

from common.kit import check, workspace


def render(report) -> str:
    buffer = io.StringIO()
    check.render(report, Console(file=buffer, width=200))
    return buffer.getvalue()


def test_starter_fails_with_the_line_in_the_candidate_file(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    report = check.check(kit, lab)
    assert [r.status for r in report.results] == ["failed", "failed", "failed"]
    failure = report.results[0].first_failure.failure
    assert failure["file"] == str(folder / "arith.py")
    assert "NotImplementedError: toy m1: Add two numbers" in failure["message"]
    text = render(report)
    assert "arith.py:7" in text and "labkit hint toy m1" in text


def test_fixing_a_milestone_makes_it_pass_and_progress_is_saved(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    code = (folder / "arith.py").read_text()
    (folder / "arith.py").write_text(
        code.replace(
            "raise NotImplementedError('toy m1: Add two numbers')", "return a + b"
        )
    )
    report = check.check(kit, lab)
    assert [r.status for r in report.results] == ["passed", "failed", "failed"]
    assert workspace.Progress.load(kit).passed("toy") == {"m1"}
    assert "First failure in m2" in render(report)


def test_a_wrong_answer_reports_the_assertion(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    code = (folder / "arith.py").read_text()
    (folder / "arith.py").write_text(
        code.replace(
            "raise NotImplementedError('toy m1: Add two numbers')", "return a - b"
        )
    )
    report = check.check(kit, lab, "m1")
    failure = report.results[0].first_failure.failure
    assert failure["file"].endswith("check_m1_add.py")
    assert "assert -1 == 5" in failure["message"]


def test_hanging_code_is_stopped_by_the_timeout_with_a_clear_message(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    code = (folder / "arith.py").read_text()
    # A classic bug: forgetting to decrement.
    code = code.replace(
        "raise NotImplementedError('toy m3: Count down')",
        "while n > 0:\n        out.append(n)",
    )
    (folder / "arith.py").write_text(code)
    report = check.check(kit, lab, "m3")
    failure = report.results[0].first_failure.failure
    assert failure["timeout"] is True
    assert "per-test timeout" in failure["message"]
    assert failure["file"] == str(folder / "arith.py")


def test_a_syntax_error_points_at_the_candidate_line(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    (folder / "arith.py").write_text("def add(a, b)\n    return a + b\n")
    report = check.check(kit, lab, "m1")
    assert report.results[0].status == "failed"
    failure = report.results[0].first_failure.failure
    assert failure["file"] == str(folder / "arith.py") and failure["line"] == 1
    assert "SyntaxError" in failure["message"] or "expected ':'" in failure["message"]

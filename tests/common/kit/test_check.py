"""`labkit check`: fail on the starter with a useful message, pass once fixed."""

import io

from rich.console import Console

from common.kit import check, workspace

M1_STUB = "raise NotImplementedError('toy m1: Add two numbers')"  # the starter's m1


def render(report) -> str:
    buffer = io.StringIO()
    check.render(report, Console(file=buffer, width=200))
    return buffer.getvalue()


def _write(folder, old, new):
    path = folder / "arith.py"
    path.write_text(path.read_text().replace(old, new))


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
    _write(folder, M1_STUB, "return a + b")
    report = check.check(kit, lab)
    assert [r.status for r in report.results] == ["passed", "failed", "failed"]
    assert workspace.Progress.load(kit).passed("toy") == {"m1"}
    assert "First failure in m2" in render(report)


def test_a_wrong_answer_reports_the_assertion(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    _write(folder, M1_STUB, "return a - b")
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


def test_a_failed_property_shows_its_falsifying_example_whole(kit, monkeypatch):
    # Under CI hypothesis adds a "@reproduce_failure" blob; check leaves it out,
    # so the output is the same on a laptop and in CI.
    monkeypatch.setenv("CI", "true")
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    # Floor division is right for [1, 2, 3] but not for a fractional mean.
    _write(
        folder,
        "raise NotImplementedError('toy m2: divide the total by the count')",
        "return total(values) // len(values)",
    )
    report = check.check(kit, lab, "m2")
    failure = report.results[0].first_failure.failure
    example = "\n".join(failure["example"])
    assert "test_mean_matches_the_definition(" in example and "values=[" in example
    text = render(report)
    assert "The failing example" in text and "values=[" in text
    assert "reproduce_failure" not in text


def test_an_array_mismatch_shows_the_values_and_shapes(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    # Off by one: stops before 1.
    _write(
        folder,
        "raise NotImplementedError('toy m3: Count down')",
        "out.extend(range(n, 1, -1))",
    )
    report = check.check(kit, lab, "m3")
    by_test = {o.nodeid.split("::")[-1]: o.failure for o in report.results[0].outcomes}
    listed = "\n".join(by_test["test_countdown"]["details"])
    assert "Right contains one more item: 1" in listed and "Use -v" not in listed
    details = "\n".join(by_test["test_countdown_of_ten_as_an_array"]["details"])
    assert "shapes (9,), (10,) mismatch" in details
    assert "DESIRED: array([10,  9,  8" in details  # the values, not only a summary


def test_checking_one_milestone_says_what_passed_and_what_was_not_checked(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    _write(folder, M1_STUB, "return a + b")
    seen = []
    report = check.check(kit, lab, "m1", on_progress=lambda done, n: seen.append(n))
    text = render(report)
    assert "All milestones pass" not in text
    assert "m1 passes" in text and "Not checked this time: m2, m3" in text


def test_verbose_shows_pytests_own_report(kit):
    lab = kit.lab("toy")
    workspace.start(kit, lab)
    report = check.check(kit, lab, "m1", verbose=True)
    buffer = io.StringIO()
    check.render(report, Console(file=buffer, width=200), verbose=True)
    text = buffer.getvalue()
    assert "pytest's full output" in text
    assert "check_m1_add.py::test_add_small FAILED" in text


def test_pytests_own_internal_error_is_named_not_shown_as_tests_that_never_ran(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    _write(folder, M1_STUB, "return a - b")
    # What CPython 3.11.7 did inside pytest's long tracebacks on a real starter.
    (kit.root / "tests" / "toy" / "conftest.py").write_text(
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'call' and report.nodeid.endswith('test_add_negative'):\n"
        "        raise SystemError('AST constructor recursion depth mismatch')\n"
    )
    report = check.check(kit, lab)
    text = " ".join(render(report).split())
    assert "pytest stopped with an internal error after 1 test: the tests after" in text
    assert "SystemError: AST constructor recursion depth mismatch" in text
    # The failure it did record is still shown, in the plugin's words; pytest's
    # own tracebacks (which nobody reads without -v) are the cheap native ones.
    assert "assert -1 == 5" in text
    assert "Traceback (most recent call last)" in report.run.output

"""``labkit check``: run a lab's milestone tests against the candidate's code.

All milestones run in one pytest process (in milestone order), each gets a
✓ or ✗, and the first failure is condensed to the line in the candidate's
file and its message, followed by the hint command.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from common.kit.manifest import Kit, Lab, Milestone
from common.kit.runner import RunResult, TestOutcome, run_pytest
from common.kit.workspace import Progress, require_started


@dataclass(frozen=True)
class MilestoneResult:
    milestone: Milestone
    outcomes: list[TestOutcome]

    @property
    def status(self) -> str:
        """``passed`` when at least one test ran and none failed, else ``failed``."""
        if not self.outcomes or any(not o.ok for o in self.outcomes):
            return "failed"
        return "passed"

    @property
    def first_failure(self) -> TestOutcome | None:
        return next((o for o in self.outcomes if not o.ok), None)

    def counts(self) -> str:
        tally: dict[str, int] = {}
        for outcome in self.outcomes:
            tally[outcome.outcome] = tally.get(outcome.outcome, 0) + 1
        if not tally:
            return "no tests ran"
        return ", ".join(f"{n} {what}" for what, n in sorted(tally.items()))


@dataclass(frozen=True)
class CheckReport:
    lab: Lab
    results: list[MilestoneResult]
    run: RunResult
    folder: Path

    @property
    def passed(self) -> bool:
        return all(r.status == "passed" for r in self.results)


def split_by_milestone(
    kit: Kit, milestones: list[Milestone], run: RunResult
) -> list[MilestoneResult]:
    return [MilestoneResult(m, run.for_files(kit.test_paths(m))) for m in milestones]


def check_args(verbose: bool) -> list[str]:
    """pytest's arguments for a candidate's run (``labkit check``, ``labkit drill check``).

    Whole assertion diffs always; with ``verbose``, pytest's own report too
    (-vv: the runner passes -q). Without it nobody reads pytest's tracebacks
    (the plugin condenses each failure), so they are native: pytest's long
    ones parse every frame's source, which on CPython 3.11.7 can fail inside
    pytest (SystemError: AST constructor recursion depth mismatch, seen on
    online_serving's m4 starter) and end the session before the later
    milestones run.
    """
    return [
        "-o",
        "verbosity_assertions=2",
        *(["-vv", "--tb=long", "-rfE"] if verbose else ["--tb=native"]),
    ]


def check(
    kit: Kit,
    lab: Lab,
    milestone_id: str | None = None,
    *,
    verbose: bool = False,
    on_progress: Callable[[list[TestOutcome], int | None], None] | None = None,
) -> CheckReport:
    """Run the candidate's workspace copy of ``lab`` against its milestone tests.

    Args:
        milestone_id: check only this milestone.
        verbose: ask pytest for its full report (``CheckReport.run.output``).
        on_progress: called while the tests run (see ``run_pytest``).
    """
    folder = require_started(kit, lab)
    milestones = [lab.milestone(milestone_id)] if milestone_id else list(lab.milestones)
    files = [path for m in milestones for path in kit.test_paths(m)]
    run = run_pytest(
        files,
        root=kit.root,
        overlay={lab.module: folder},
        timeout=lab.timeout,
        extra_args=check_args(verbose),
        on_progress=on_progress,
    )
    results = split_by_milestone(kit, milestones, run)
    progress = Progress.load(kit)
    progress.record(lab.id, {r.milestone.id: r.status for r in results})
    progress.save()
    return CheckReport(lab, results, run, folder)


def progress_line(
    kit: Kit, lab: Lab, show: Callable[[str], object]
) -> Callable[[list[TestOutcome], int | None], None]:
    """A progress callback that shows "m2: 12/40 tests, 1 failed (8 s)"."""
    started = time.monotonic()
    owner = {
        str(path.resolve()): m.id for m in lab.milestones for path in kit.test_paths(m)
    }

    def update(outcomes: list[TestOutcome], collected: int | None) -> None:
        current = owner.get(outcomes[-1].file or "", "") if outcomes else ""
        failed = sum(not o.ok for o in outcomes)
        show(
            f"checking {lab.id} {current}: {len(outcomes)}/{collected or '?'} tests"
            + (f", {failed} failed" if failed else "")
            + f" ({time.monotonic() - started:.0f} s)"
        )

    return update


def _where(failure: dict[str, object]) -> str:
    file, line = failure.get("file"), failure.get("line")
    if not file:
        return ""
    path = Path(str(file))
    try:
        shown = os.path.relpath(path, Path.cwd())
        if shown.startswith(".." + os.sep + ".."):
            shown = str(path)
    except ValueError:
        shown = str(path)
    return f"{shown}:{line}" if line else shown


def render(report: CheckReport, console: Console, *, verbose: bool = False) -> None:
    """Print ✓/✗ per milestone and the first failure, with its values and example."""
    lab = report.lab
    console.print(f"[bold]{lab.id}[/bold] — {lab.title}  [dim]({report.folder})[/dim]")
    failing = render_results(report.results, report.run, console, verbose=verbose)
    if failing is None:
        _render_pass(report, console)
        return
    console.print(f"\nStuck? `labkit hint {lab.id} {failing.milestone.id}`")


def render_results(
    results: list[MilestoneResult],
    run: RunResult,
    console: Console,
    *,
    verbose: bool = False,
) -> MilestoneResult | None:
    """✓/✗ per milestone, then the first failure condensed; returns its milestone.

    Shared by ``labkit check`` and ``labkit drill check``, which add their own
    header and next step. ``None`` when every milestone passed.
    """
    for result in results:
        mark = "[green]✓[/green]" if result.status == "passed" else "[red]✗[/red]"
        console.print(
            f" {mark} {result.milestone.id}  {result.milestone.title:<40} [dim]{result.counts()}[/dim]"
        )
    if verbose:
        console.rule("pytest's full output")
        console.print(run.output, markup=False, highlight=False)
    if run.returncode == pytest.ExitCode.INTERNAL_ERROR:
        said = [line for line in run.output.splitlines() if "INTERNALERROR" in line]
        console.print(
            "[red]pytest stopped with an internal error after "
            f"{len(run.outcomes)} test{'' if len(run.outcomes) == 1 else 's'}: "
            "the tests after that point did not run.[/red] "
            + (f"Its last words: {said[-1].strip()} " if said else "")
            + "(`labkit check -v` shows pytest's whole output)",
            highlight=False,
        )
    failing = next((r for r in results if r.status == "failed"), None)
    if failing is None:
        return None
    first = failing.first_failure
    console.print()
    if first is None:
        console.print(f"[red]{failing.milestone.id}: no tests ran.[/red] pytest said:")
        console.print(run.output.strip()[-2000:], markup=False)
        return failing
    failure = first.failure or {}
    test_name = first.nodeid.split("::")[-1] if "::" in first.nodeid else first.nodeid
    console.print(
        f"[bold red]First failure[/bold red] in {failing.milestone.id}: {test_name}"
    )
    where = _where(failure)
    if where:
        console.print(f"  {where}", markup=False)
    console.print(f"  {failure.get('message', first.outcome)}", markup=False)
    for line in failure.get("details", []):
        console.print(f"    {line}", markup=False, highlight=False)
    if failure.get("example"):
        console.print("  The failing example (paste it to reproduce):")
        for line in failure["example"]:
            console.print(f"    {line}", markup=False, highlight=False)
    return failing


def _render_pass(report: CheckReport, console: Console) -> None:
    lab = report.lab
    checked = [r.milestone.id for r in report.results]
    if len(checked) == len(lab.milestones):
        console.print(
            "[green]All milestones pass.[/green] Compare with the reference: "
            f"`labkit diff {lab.id}`; measure it: `labkit run {lab.id} --mine`."
        )
        return
    rest = [m.id for m in lab.milestones if m.id not in checked]
    console.print(
        f"[green]{', '.join(checked)} {'passes' if len(checked) == 1 else 'pass'}.[/green] "
        f"Not checked this time: {', '.join(rest)} (`labkit check {lab.id}` checks all)."
    )

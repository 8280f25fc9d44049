"""``labkit check``: run a lab's milestone tests against the candidate's code.

All milestones run in one pytest process (in milestone order), each gets a
✓ or ✗, and the first failure is condensed to the line in the candidate's
file and its message, followed by the hint command.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


def check(kit: Kit, lab: Lab, milestone_id: str | None = None) -> CheckReport:
    """Run the candidate's workspace copy of ``lab`` against its milestone tests."""
    folder = require_started(kit, lab)
    milestones = [lab.milestone(milestone_id)] if milestone_id else list(lab.milestones)
    files = [path for m in milestones for path in kit.test_paths(m)]
    run = run_pytest(
        files, root=kit.root, overlay={lab.module: folder}, timeout=lab.timeout
    )
    results = split_by_milestone(kit, milestones, run)
    progress = Progress.load(kit)
    progress.record(lab.id, {r.milestone.id: r.status for r in results})
    progress.save()
    return CheckReport(lab, results, run, folder)


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


def render(report: CheckReport, console: Console) -> None:
    lab = report.lab
    console.print(f"[bold]{lab.id}[/bold] — {lab.title}  [dim]({report.folder})[/dim]")
    for result in report.results:
        mark = "[green]✓[/green]" if result.status == "passed" else "[red]✗[/red]"
        console.print(
            f" {mark} {result.milestone.id}  {result.milestone.title:<40} [dim]{result.counts()}[/dim]"
        )
    failing = next((r for r in report.results if r.status == "failed"), None)
    if failing is None:
        console.print(
            "[green]All milestones pass.[/green] Compare with the reference: "
            f"`labkit diff {lab.id}`; measure it: `labkit run {lab.id} --mine`."
        )
        return
    first = failing.first_failure
    console.print()
    if first is None:
        console.print(f"[red]{failing.milestone.id}: no tests ran.[/red] pytest said:")
        console.print(report.run.output.strip()[-2000:], markup=False)
    else:
        failure = first.failure or {}
        test_name = (
            first.nodeid.split("::")[-1] if "::" in first.nodeid else first.nodeid
        )
        console.print(
            f"[bold red]First failure[/bold red] in {failing.milestone.id}: {test_name}"
        )
        where = _where(failure)
        if where:
            console.print(f"  {where}", markup=False)
        console.print(f"  {failure.get('message', first.outcome)}", markup=False)
    console.print(f"\nStuck? `labkit hint {lab.id} {failing.milestone.id}`")

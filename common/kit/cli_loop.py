"""The candidate's loop on the command line: list, start, check, hint, diff, watch.

    labkit list                 labs, milestones, progress
    labkit start <lab>          write the starter into the workspace
    labkit check <lab>          run the milestone tests against your code
    labkit hint <lab> [mN]      the next hint for the first failing milestone
    labkit diff <lab>           your code vs the reference, for passed milestones
    labkit reset / restore      start over (backed up), and undo it

Each command parses its options, calls one function in ``common.kit`` and
prints what it returns.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from rich.syntax import Syntax
from rich.table import Table

from common.kit import check as check_mod
from common.kit import cli_shell as shell
from common.kit import diff as diff_mod
from common.kit import hints as hints_mod
from common.kit import workspace
from common.kit.cli_shell import LabArg, VerboseOpt, WorkspaceOpt, app, console
from common.kit.errors import KitError
from common.kit.manifest import Kit, Lab
from common.kit.watch import watch as watch_folder
from common.kit.wrong import load_catalogue


@app.command("list")
def list_labs(workspace_path: WorkspaceOpt = None) -> None:
    """List the labs, their milestones and your progress."""
    kit = shell.load_kit(workspace_path)
    progress = workspace.Progress.load(kit)
    if not kit.labs:
        console.print("No labs yet.")
    for lab in kit.labs:
        started = kit.workspace_lab(lab).exists()
        state = "[green]started[/green]" if started else "[dim]not started[/dim]"
        console.print(
            f"[bold]{lab.order}. {lab.id}[/bold] — {lab.title} ({state})\n   [dim]{lab.summary}[/dim]"
        )
        for m in lab.milestones:
            status = progress.status(lab.id, m.id)
            mark = {"passed": "[green]✓[/green]", "failed": "[red]✗[/red]"}.get(
                status or "", "·"
            )
            minutes = f"  [dim]~{m.minutes} min[/dim]" if m.minutes else ""
            console.print(f"   {mark} {m.id} {m.title}{minutes}")


@app.command()
def start(
    lab_id: LabArg,
    force: Annotated[
        bool, typer.Option(help="Replace existing work (it is backed up first).")
    ] = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Write a lab's starter into your workspace (never overwrites your work)."""
    kit = shell.load_kit(workspace_path)
    lab = kit.lab(lab_id)
    folder, backup = workspace.start(kit, lab, force=force)
    if backup:
        console.print(f"Backed up your previous work to {backup}")
    console.print(f"Started [bold]{lab.id}[/bold] in {folder}")
    console.print(
        f"Read the brief: {folder / 'README.md'}\nThen: `labkit check {lab.id}`"
    )


@app.command()
def reset(lab_id: LabArg, workspace_path: WorkspaceOpt = None) -> None:
    """Back up your copy of a lab and write a fresh starter."""
    kit = shell.load_kit(workspace_path)
    folder, backup = workspace.reset(kit, kit.lab(lab_id))
    if backup:
        console.print(f"Backed up your work to {backup}")
        console.print(f"Undo with: labkit restore {lab_id} {backup.name}")
    console.print(f"Fresh starter in {folder}")


@app.command()
def restore(
    lab_id: LabArg,
    backup: Annotated[
        str | None,
        typer.Argument(metavar="[BACKUP]", help="A backup's name; default the newest."),
    ] = None,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Put a backup of a lab back (your current copy is backed up first)."""
    kit = shell.load_kit(workspace_path)
    lab = kit.lab(lab_id)
    restored, replaced = workspace.restore(kit, lab, backup)
    if replaced:
        console.print(f"Backed up the copy it replaced to {replaced}")
    console.print(f"Restored {restored.name} to {kit.workspace_lab(lab)}")
    names = [p.name for p in workspace.backups(kit, lab)]
    if names:
        console.print(f"[dim]Other backups: {', '.join(names)}[/dim]")


@app.command()
def check(
    lab_id: LabArg,
    milestone: Annotated[
        str | None, typer.Option(help="Check only this milestone, e.g. m2.")
    ] = None,
    verbose: VerboseOpt = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Run the milestone tests against your code; exit 1 while any fails."""
    kit = shell.load_kit(workspace_path)
    lab = kit.lab(lab_id)
    with console.status(f"checking {lab.id}…") as shown:
        report = check_mod.check(
            kit,
            lab,
            milestone,
            verbose=verbose,
            on_progress=check_mod.progress_line(kit, lab, shown.update),
        )
    check_mod.render(report, console, verbose=verbose)
    if not report.passed:
        raise typer.Exit(code=1)


@app.command()
def hint(
    lab_id: LabArg,
    milestone: Annotated[str | None, typer.Argument(metavar="[MN]")] = None,
    mistakes: Annotated[
        bool,
        typer.Option(
            help="Show the mistakes candidates make in a milestone you have passed."
        ),
    ] = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Show the next hint (each call reveals one more)."""
    kit = shell.load_kit(workspace_path)
    lab = kit.lab(lab_id)
    progress = workspace.Progress.load(kit)
    if milestone is None:
        milestone = next(
            (m.id for m in lab.milestones if progress.status(lab.id, m.id) != "passed"),
            lab.milestones[-1].id,
        )
    target = lab.milestone(milestone)
    if mistakes:
        _show_mistakes(kit, lab, target.id, passed=progress.passed(lab.id))
        return
    if not target.hints:
        console.print(
            f"{lab.id} {target.id} has no hints; read the brief and the docstrings."
        )
        return
    index = min(progress.next_hint(lab.id, target.id), len(target.hints) - 1)
    progress.save()
    console.print(
        f"[bold]{lab.id} {target.id} — {target.title}[/bold]  hint {index + 1}/{len(target.hints)}"
    )
    console.print(hints_mod.render(target.hints[index]), highlight=False)


def _show_mistakes(kit: Kit, lab: Lab, milestone_id: str, passed: set[str]) -> None:
    if milestone_id not in passed:
        raise KitError(
            f"the mistakes of {lab.id} {milestone_id} open once you pass it "
            f"(`labkit check {lab.id}`); they would give the answer away before."
        )
    answers = [a for a in load_catalogue(kit, lab) if a.milestone == milestone_id]
    if not answers:
        console.print(f"{lab.id} {milestone_id} has no catalogue of mistakes yet.")
        return
    console.print(
        f"[bold]Mistakes candidates make in {lab.id} {milestone_id}[/bold] "
        f"({len(answers)}; the tests catch each one)"
    )
    for answer in answers:
        console.rule(answer.id)
        console.print(answer.mistake, highlight=False)
        for region, body in answer.bodies:
            console.print(f"[dim]{region}[/dim]")
            console.print(Syntax(body.strip("\n"), "python", theme="ansi_dark"))


@app.command()
def status(workspace_path: WorkspaceOpt = None) -> None:
    """Your progress in every started lab."""
    kit = shell.load_kit(workspace_path)
    progress = workspace.Progress.load(kit)
    console.print(f"Workspace: {kit.workspace}")
    table = Table("lab", "started", "milestones passed", "last check")
    for lab in kit.labs:
        passed = progress.passed(lab.id)
        table.add_row(
            lab.id,
            "yes" if kit.workspace_lab(lab).exists() else "no",
            f"{len(passed)}/{len(lab.milestones)}",
            progress.labs.get(lab.id, {}).get("checked_at", "—"),
        )
    console.print(table)


@app.command()
def diff(
    lab_id: LabArg,
    reveal: Annotated[
        bool,
        typer.Option(help="Also show milestones you have not passed (asks first)."),
    ] = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Your functions beside the reference, for the milestones you passed."""
    kit = shell.load_kit(workspace_path)
    lab = kit.lab(lab_id)
    workspace.require_started(kit, lab)
    shown = set(workspace.Progress.load(kit).passed(lab.id))
    if reveal and typer.confirm(
        "Show the reference for milestones you have not passed yet?", default=False
    ):
        shown = {m.id for m in lab.milestones}
    if not shown:
        console.print(
            f"No passed milestones yet; `labkit check {lab.id}` first (or --reveal)."
        )
        return
    for item in diff_mod.diff_lab(kit, lab, shown):
        console.rule(f"{item.milestone}  {item.file}  {item.function}")
        if item.kind == "identical":
            console.print("[green]identical to the reference[/green]")
            continue
        if item.kind == "formatting":
            console.print(
                "[green]the same code as the reference[/green], formatted differently"
            )
            continue
        sides = Table("yours", "reference", expand=True, show_lines=False)
        sides.add_row(
            Syntax(item.mine, "python", theme="ansi_dark", word_wrap=True),
            Syntax(item.reference, "python", theme="ansi_dark", word_wrap=True),
        )
        console.print(sides)
        console.print(Syntax(item.diff, "diff", theme="ansi_dark"))
    console.print(
        f"\n[dim]The mistakes candidates make in a milestone you passed: "
        f"`labkit hint {lab.id} mN --mistakes`[/dim]"
    )


@app.command()
def watch(
    lab_id: LabArg,
    poll: Annotated[
        bool, typer.Option(help="Poll for changes instead of file-system events.")
    ] = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Re-run `check` every time you save a file of the lab (Ctrl-C stops)."""
    kit = shell.load_kit(workspace_path)
    lab = kit.lab(lab_id)
    folder = workspace.require_started(kit, lab)

    def once() -> None:
        console.clear()
        check_mod.render(check_mod.check(kit, lab), console)
        console.print(f"\n[dim]watching {folder}; Ctrl-C to stop[/dim]")

    with contextlib.suppress(KeyboardInterrupt):
        watch_folder(folder, once, poll=poll)

"""Drills on the command line: the kit's own code, rewritten against the clock.

    labkit drill list [LAB] [--area A]    every drill: target, best time, hints, when due
    labkit drill next [LAB] [--area A]    start the drill due first
    labkit drill start ID                 start one (--milestone lab/mN, --blank lab/module)
    labkit drill check [ID]               run its tests on your copy; a pass is scheduled
    labkit drill hint [ID]                open the next hint (recorded)
    labkit drill give-up [ID]             record a fail and see the reference beside yours
    labkit drill status                   the drill (or round) in progress and its clock

Each command calls one function in ``common.interview`` and prints what it
returns. ``ID`` is needed only in a coding round, where two drills are open.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.syntax import Syntax
from rich.table import Column, Table

from common.interview import catalog, coding, copies, drills, schedule
from common.interview.state import load_state
from common.interview.task import show_task
from common.kit import check as check_mod
from common.kit import cli_shell as shell
from common.kit import hints as hints_mod
from common.kit.cli_shell import VerboseOpt, WorkspaceOpt, app, console
from common.kit.errors import KitError
from common.kit.manifest import Kit

drill_app = typer.Typer(
    help="Timed drills cut from the kit's solution regions, spaced by FSRS.",
    no_args_is_help=True,
)
app.add_typer(drill_app, name="drill")

AreaOpt = Annotated[
    str | None,
    typer.Option(help="Only drills of one area: systems, nn, ml, stats, dsa."),
]
LabOpt = Annotated[str | None, typer.Argument(metavar="[LAB]")]
IdOpt = Annotated[
    str | None,
    typer.Argument(metavar="[ID]", help="The drill, when a round has two open."),
]


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def _due(card: Any, now: datetime) -> str:
    due = schedule.due_at(card)
    when = f" ({due:%Y-%m-%d})" if due else ""
    return schedule.describe_due(card, now) + when


@drill_app.command("list")
def list_drills(
    lab_id: LabOpt = None, area: AreaOpt = None, workspace_path: WorkspaceOpt = None
) -> None:
    """Every drill with its target, your best time, hints used and when it is due."""
    kit = shell.load_kit(workspace_path)
    records = load_state(kit).drills
    now = drills.utc_now()
    found = catalog.all_drills(kit, lab_id, area)
    # Milestone and module drills you have done are scheduled too: list them.
    listed = {d.id for d in found}
    labs = {d.lab.id for d in found}
    gone = []
    for drill_id in records:
        if drill_id not in listed and drill_id.partition("/")[0] in labs:
            try:
                found.append(catalog.find_drill(kit, drill_id))
            except KitError:  # the lab changed since: keep the record, skip the row
                gone.append(drill_id)
    # The figures never wrap, so a narrow terminal folds the ids, never cuts a column.
    table = Table(
        Column("drill", overflow="fold"),
        *(
            Column(name, no_wrap=True)
            for name in ("target", "best", "passed", "hints", "due")
        ),
        box=box.SIMPLE_HEAD,
    )
    due_now = 0
    for drill in found:
        record = records.get(drill.id, {})
        best = record.get("best_seconds")
        due = schedule.due_at(record.get("card"))
        due_now += due is None or due <= now
        table.add_row(
            drill.id,
            f"{drill.minutes} min",
            _clock(best) if best is not None else "—",
            f"{record.get('passes', 0)}/{record.get('attempts', 0)}",
            str(record.get("hints", 0)),
            schedule.describe_due(record.get("card"), now),
        )
    console.print(table)
    if gone:
        console.print(
            f"[dim]No longer in the labs (records kept): {', '.join(gone)}[/dim]"
        )
    console.print(
        f"{len(found)} drills, {due_now} due now. `labkit drill next` starts the one "
        "due first; `labkit drill start ID` any of them."
    )


def _start(kit: Kit, drill: catalog.Drill) -> None:
    session, backup, left = drills.start(kit, drill)
    if left:
        console.print(f"[dim]Left drill {left['id']} unfinished (not recorded).[/dim]")
    if backup:
        console.print(f"[dim]Your previous attempt is kept in {backup}[/dim]")
    show_task(drill, Path(session["folder"]), console)


@drill_app.command("next")
def next_(
    lab_id: LabOpt = None, area: AreaOpt = None, workspace_path: WorkspaceOpt = None
) -> None:
    """Start the drill due first (the most overdue; new drills in lab order)."""
    kit = shell.load_kit(workspace_path)
    drill = drills.next_drill(kit, lab_id, area)[0]
    card = load_state(kit).drills.get(drill.id, {}).get("card")
    console.print(f"Due: {_due(card, drills.utc_now())}")
    _start(kit, drill)


@drill_app.command()
def start(
    drill_id: Annotated[str, typer.Argument(metavar="ID|next")],
    milestone: Annotated[
        bool,
        typer.Option(
            "--milestone", help="ID is <lab>/<mN>: every region of the milestone."
        ),
    ] = False,
    blank: Annotated[
        bool,
        typer.Option("--blank", help="ID is <lab>/<module>: every region of one file."),
    ] = False,
    area: AreaOpt = None,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Write a fresh copy of the lab with the drill stubbed, show the task, start the clock."""
    kit = shell.load_kit(workspace_path)
    if drill_id == "next":
        _start(kit, drills.next_drill(kit, None, area)[0])
        return
    if milestone and blank:
        raise catalog.DrillError("use --milestone or --blank, not both.")
    kind = catalog.MILESTONE if milestone else catalog.MODULE if blank else None
    _start(kit, catalog.find_drill(kit, drill_id, kind))


@drill_app.command()
def check(
    drill_id: IdOpt = None,
    verbose: VerboseOpt = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Run the drill's milestone tests on your copy; exit 1 while any fails."""
    kit = shell.load_kit(workspace_path)
    with console.status("checking…") as shown:
        checks = drills.check(
            kit,
            drill_id,
            verbose=verbose,
            on_progress=lambda d: check_mod.progress_line(kit, d.lab, shown.update),
        )
    now = drills.utc_now()
    in_round = load_state(kit).round is not None
    for result in checks:
        _render_check(kit, result, now, in_round, verbose)
    _end_a_finished_round(kit)
    if not all(c.passed for c in checks):
        raise typer.Exit(code=1)


def _render_check(
    kit: Kit, result: drills.DrillCheck, now: datetime, in_round: bool, verbose: bool
) -> None:
    drill, session = result.drill, result.session
    console.print(
        f"[bold]drill {drill.id}[/bold] — {drill.lab.title}  [dim]({session['folder']})[/dim]"
    )
    failing = check_mod.render_results(
        result.results, result.run, console, verbose=verbose
    )
    if result.rating is not None:
        card = load_state(kit).drills[drill.id].get("card")
        console.print(
            f"\n[green]Passed[/green] in {_clock(session['seconds'])} (target "
            f"{session['minutes']} min), {session['checks']} checks, {session['hints']} "
            f"hints: rated {result.rating.name}. Next due {_due(card, now)}."
        )
    elif failing is not None:
        name = f" {drill.id}" if in_round else ""
        console.print(
            f"\n{_clock(drills.elapsed_s(session, now))} in, target {session['minutes']} "
            f"min. Stuck? `labkit drill hint{name}` (recorded), or "
            f"`labkit drill give-up{name}` to see the reference."
        )


def _end_a_finished_round(kit: Kit) -> None:
    """A round ends by itself once each of its drills has passed or been given up."""
    if coding.round_done(kit):
        path = coding.end_round(kit, console)
        console.print(f"Wrote {path}", highlight=False)


@drill_app.command()
def hint(drill_id: IdOpt = None, workspace_path: WorkspaceOpt = None) -> None:
    """Open the drill's next hint; it is recorded and makes the drill come back sooner."""
    kit = shell.load_kit(workspace_path)
    session, text, number, total = drills.take_hint(kit, drill_id)
    if text is None:
        console.print(
            f"{session['id']} has no hints; read the docstring and the brief."
        )
        return
    console.print(f"[bold]{session['id']}[/bold]  hint {number}/{total} (recorded)")
    console.print(hints_mod.render(text), highlight=False)


@drill_app.command("give-up")
def give_up(drill_id: IdOpt = None, workspace_path: WorkspaceOpt = None) -> None:
    """Record a fail and show the reference beside your attempt."""
    kit = shell.load_kit(workspace_path)
    drill, session = drills.give_up(kit, drill_id)
    for item in copies.attempt_diffs(kit, drill, Path(session["folder"])):
        console.rule(f"{item.milestone}  {item.file}  {item.function}")
        if item.kind != "different":
            console.print("[green]the same code as the reference[/green]")
            continue
        sides = Table("yours", "reference", expand=True)
        sides.add_row(
            Syntax(item.mine, "python", theme="ansi_dark", word_wrap=True),
            Syntax(item.reference, "python", theme="ansi_dark", word_wrap=True),
        )
        console.print(sides)
        console.print(Syntax(item.diff, "diff", theme="ansi_dark"))
    card = load_state(kit).drills[drill.id].get("card")
    console.print(
        f"Recorded as a fail after {_clock(session['seconds'])}; it is due again "
        f"{_due(card, drills.utc_now())}. Your attempt stays in {session['folder']}."
    )
    _end_a_finished_round(kit)


@drill_app.command()
def status(workspace_path: WorkspaceOpt = None) -> None:
    """The drill or round in progress, and its clock."""
    kit = shell.load_kit(workspace_path)
    state = load_state(kit)
    now = drills.utc_now()
    if state.round is not None:
        used = drills.elapsed_s(state.round, now)
        left = state.round["minutes"] * 60 - used
        console.print(
            f"Coding round: {_clock(used)} used of {state.round['minutes']} min "
            + (
                f"({_clock(left)} left)."
                if left >= 0
                else f"([red]{_clock(-left)} over[/red])."
            )
        )
    sessions = drills.all_sessions(state)
    if not sessions:
        console.print(
            "No drill in progress; `labkit drill next` starts the one due first."
        )
        return
    for s in sessions:
        seconds = s["seconds"] if s["seconds"] is not None else drills.elapsed_s(s, now)
        console.print(
            f"[bold]{s['id']}[/bold]: {s['status']}, {_clock(seconds)} (target "
            f"{s['minutes']} min), hints {s['hints']}, checks {s['checks']}\n"
            f"  [dim]{s['folder']}[/dim]",
            highlight=False,
        )

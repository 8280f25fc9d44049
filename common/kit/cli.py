"""The ``labkit`` command line: the candidate's loop and the measured steps.

    labkit list                 labs, milestones, progress
    labkit start <lab>          write the starter into the workspace
    labkit check <lab>          run the milestone tests against your code
    labkit hint <lab> [mN]      the next hint for the first failing milestone
    labkit diff <lab>           your code vs the reference, for passed milestones
    labkit run <lab>            run the lab for real; writes results/<lab>/
    labkit demo                 the whole pipeline, reference code, one report

Every command parses its options, calls one function in ``common.kit`` and
prints what it returns. Errors a person can fix (:class:`KitError`) are
caught in one place, :class:`_KitGroup`, and printed as one line; exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from typer.core import TyperGroup

from common.kit import check as check_mod
from common.kit import diff as diff_mod
from common.kit import steps, workspace
from common.kit.errors import KitError
from common.kit.manifest import Kit, default_kit
from common.kit.verify import verify as verify_labs
from common.kit.watch import watch as watch_folder

console = Console()
err = Console(stderr=True)


class _KitGroup(TyperGroup):
    """Print a :class:`KitError` as one line and exit 2, for every command."""

    def invoke(self, ctx: Any) -> Any:  # click's Context, vendored by typer
        try:
            return super().invoke(ctx)
        except KitError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(code=2) from None


app = typer.Typer(
    cls=_KitGroup,
    help="labkit: build ML systems on real components, milestone by milestone.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

WorkspaceOpt = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        envvar="LABKIT_WORKSPACE",
        help="Where your labs live (default ./workspace).",
    ),
]
PresetOpt = Annotated[
    str | None, typer.Option(help="ShopStream size: tiny, small or large.")
]
LabArg = Annotated[str, typer.Argument(metavar="LAB")]


def _kit(workspace_path: str | None) -> Kit:
    return default_kit(workspace_path)


@app.command("list")
def list_labs(workspace_path: WorkspaceOpt = None) -> None:
    """List the labs, their milestones and your progress."""
    kit = _kit(workspace_path)
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
    kit = _kit(workspace_path)
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
    kit = _kit(workspace_path)
    folder, backup = workspace.reset(kit, kit.lab(lab_id))
    if backup:
        console.print(f"Backed up your work to {backup}")
    console.print(f"Fresh starter in {folder}")


@app.command()
def check(
    lab_id: LabArg,
    milestone: Annotated[
        str | None, typer.Option(help="Check only this milestone, e.g. m2.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print pytest's full output.")
    ] = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Run the milestone tests against your code; exit 1 while any fails."""
    kit = _kit(workspace_path)
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
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Show the next hint (each call reveals one more)."""
    kit = _kit(workspace_path)
    lab = kit.lab(lab_id)
    progress = workspace.Progress.load(kit)
    if milestone is None:
        milestone = next(
            (m.id for m in lab.milestones if progress.status(lab.id, m.id) != "passed"),
            lab.milestones[-1].id,
        )
    target = lab.milestone(milestone)
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
    console.print(target.hints[index], highlight=False)


@app.command()
def status(workspace_path: WorkspaceOpt = None) -> None:
    """Your progress in every started lab."""
    kit = _kit(workspace_path)
    progress = workspace.Progress.load(kit)
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
    kit = _kit(workspace_path)
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
        if item.diff:
            console.print(Syntax(item.diff, "diff", theme="ansi_dark"))
        else:
            console.print("[green]identical to the reference[/green]")


@app.command()
def watch(
    lab_id: LabArg,
    poll: Annotated[
        bool, typer.Option(help="Poll for changes instead of file-system events.")
    ] = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Re-run `check` every time you save a file of the lab (Ctrl-C stops)."""
    kit = _kit(workspace_path)
    lab = kit.lab(lab_id)
    folder = workspace.require_started(kit, lab)

    def once() -> None:
        console.clear()
        check_mod.render(check_mod.check(kit, lab), console)
        console.print(f"\n[dim]watching {folder}; Ctrl-C to stop[/dim]")

    with contextlib.suppress(KeyboardInterrupt):
        watch_folder(folder, once, poll=poll)


@app.command()
def verify(
    lab_id: Annotated[str | None, typer.Argument(metavar="[LAB]")] = None,
    skip_reference: Annotated[
        bool, typer.Option(help="Skip the reference run (e.g. pytest just ran it).")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(help="Checks to run at once (default: one per CPU core)."),
    ] = None,
    cache: Annotated[
        bool,
        typer.Option(help="Skip labs unchanged since their last clean verify."),
    ] = True,
) -> None:
    """Prove each milestone's tests fail on its stub and on every known wrong answer."""
    kit = Kit()
    labs = [kit.lab(lab_id)] if lab_id else list(kit.labs)
    ok = verify_labs(
        kit,
        labs,
        skip_reference=skip_reference,
        console=console,
        jobs=jobs,
        use_cache=cache,
    )
    if not ok:
        raise typer.Exit(code=1)


def _prepare(kit: Kit, lab_id: str, mine: bool) -> Any:
    lab = kit.lab(lab_id)
    if mine:
        steps.use_workspace(kit, [lab])
    return lab


@app.command()
def run(
    lab_id: LabArg,
    preset: PresetOpt = None,
    mine: Annotated[
        bool, typer.Option(help="Run your workspace copy instead of the reference.")
    ] = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Run a lab for real and write results/<lab>/."""
    lab = _prepare(_kit(workspace_path), lab_id, mine)
    results = steps.run_step(lab, "run", preset=preset)
    console.print(f"Wrote {results.dir}")


@app.command()
def bench(
    lab_id: LabArg,
    preset: PresetOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the JSON figures on stdout.")
    ] = False,
    mine: Annotated[bool, typer.Option(help="Benchmark your workspace copy.")] = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Benchmark a lab; figures are medians and ratios from one run."""
    lab = _prepare(_kit(workspace_path), lab_id, mine)
    if as_json:
        with steps.stdout_to_stderr():
            results = steps.run_step(lab, "bench", preset=preset)
        sys.stdout.write(json.dumps(results.figures, indent=2, default=str) + "\n")
        return
    results = steps.run_step(lab, "bench", preset=preset)
    console.print_json(json.dumps(results.figures, default=str))
    console.print(f"Wrote {results.dir}")


@app.command()
def report() -> None:
    """Gather every lab's results page into results/REPORT.md."""
    from common.report import gather

    path = gather(["data", *(lab.id for lab in Kit().labs)])
    console.print(f"Report: {path}")


@app.command()
def data(
    preset: Annotated[str, typer.Option(help="tiny, small or large.")] = "small",
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 0,
) -> None:
    """Generate (or reuse) the ShopStream dataset and print a summary."""
    from common import shopstream

    try:
        summary, page = steps.data_step(preset, seed)
    except ValueError as exc:  # an unknown preset or a bad seed
        raise KitError(str(exc)) from None
    console.print(shopstream.format_summary(summary), highlight=False, soft_wrap=True)
    console.print(f"[dim]Page: {page}[/dim]")


@app.command()
def demo(
    preset: Annotated[
        str | None,
        typer.Option(
            help="Run the data step and every lab at this preset (e.g. tiny for a "
            "smoke run). Default: ShopStream small, each lab at its lab.toml `demo` size."
        ),
    ] = None,
    mine: Annotated[
        bool,
        typer.Option(
            help="Use your completed workspace labs instead of the reference."
        ),
    ] = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Run the whole pipeline on the embedded defaults and write results/REPORT.md."""
    from common.kit.demo import run_demo

    outcome = run_demo(
        _kit(workspace_path), preset=preset, mine=mine, console=console, err=err
    )
    total = sum(outcome.seconds.values())
    console.print(
        f"\nDemo finished in {total:.0f} s. Report: [bold]{outcome.report}[/bold]"
    )
    if outcome.failures:
        raise KitError(f"these steps failed: {', '.join(outcome.failures)} (see above)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

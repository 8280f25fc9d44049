"""The measured steps on the command line: run, bench, demo, data, report, verify.

    labkit run <lab>            run the lab for real; writes results/<lab>/
    labkit bench <lab>          the lab's benchmark figures
    labkit demo                 the whole pipeline, reference code, one report
    labkit verify [lab]         prove every milestone's tests can fail

Each command parses its options, calls one function in ``common.kit`` and
prints what it returns.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from common.kit import cli_shell as shell
from common.kit import steps, workspace
from common.kit.cli_shell import LabArg, PresetOpt, WorkspaceOpt, app, console, err
from common.kit.errors import KitError
from common.kit.manifest import Kit, Lab
from common.kit.verify import verify as verify_labs
from common.results import fmt


@app.command()
def verify(
    lab_id: Annotated[str | None, typer.Argument(metavar="[LAB]")] = None,
    skip_reference: Annotated[
        bool, typer.Option(help="Skip the reference run (e.g. pytest just ran it).")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            help="Checks to run at once besides the Ray lane's one (default: as "
            "many as the CPU cores)."
        ),
    ] = None,
    cache: Annotated[
        bool,
        typer.Option(help="Skip labs unchanged since their last clean verify."),
    ] = True,
) -> None:
    """Prove each milestone's tests fail on its stub and on every known wrong answer."""
    kit = shell.repo_kit()
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


def _prepare(kit: Kit, lab_id: str, mine: bool) -> tuple[Lab, list[str]]:
    """The lab, and (with ``mine``) the overlay set and the milestones still stubbed."""
    lab = kit.lab(lab_id)
    if not mine:
        return lab, []
    steps.use_workspace(kit, [lab])
    missing = steps.unimplemented(kit, lab)
    if missing:
        err.print(
            f"[yellow]Your copy still stubs {', '.join(missing)}:[/yellow] what needs "
            "them is skipped (the page says what), or the step stops and says where.",
            highlight=False,
        )
    return lab, missing


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
    lab, missing = _prepare(shell.load_kit(workspace_path), lab_id, mine)
    results = steps.run_step(lab, "run", missing=missing, preset=preset)
    for line in results.skipped:
        console.print(f"[yellow]skipped[/yellow] {line}", highlight=False)
    console.print(f"Wrote {results.dir}")


@app.command()
def bench(
    lab_id: LabArg,
    preset: PresetOpt = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print only the JSON figures on stdout (with --mine: your copy's alone).",
        ),
    ] = False,
    mine: Annotated[
        bool,
        typer.Option(
            help="Benchmark your copy beside the reference, in one run, alternating."
        ),
    ] = False,
    rounds: Annotated[
        int, typer.Option(help="With --mine: benchmark runs per copy (medians).")
    ] = 1,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Benchmark a lab; figures are medians and ratios from one run."""
    kit = shell.load_kit(workspace_path)
    if mine and not as_json:
        _compare(kit, kit.lab(lab_id), preset, rounds)
        return
    lab, missing = _prepare(kit, lab_id, mine)
    if as_json:
        with steps.stdout_to_stderr():
            results = steps.run_step(lab, "bench", missing=missing, preset=preset)
        sys.stdout.write(json.dumps(results.figures, indent=2, default=str) + "\n")
        return
    results = steps.run_step(lab, "bench", missing=missing, preset=preset)
    console.print_json(json.dumps(results.figures, default=str))
    console.print(f"Wrote {results.dir}")


def _compare(kit: Kit, lab: Lab, preset: str | None, rounds: int) -> None:
    from common.kit.bench_compare import compare_bench

    workspace.require_started(kit, lab)
    with console.status("benchmarking…") as shown:
        results = compare_bench(
            kit,
            lab,
            preset=preset,
            rounds=rounds,
            on_side=lambda n, side: shown.update(
                f"benchmarking {lab.id}: round {n}/{rounds}, {side}"
            ),
        )
    table = Table("figure", "yours", "reference", "yours / reference")
    for name, row in results.figures.items():
        ratio = row["ratio"]
        table.add_row(
            name,
            fmt(row["yours"]),
            fmt(row["reference"]),
            "—" if ratio is None else f"{ratio:.2f}×",
        )
    console.print(table)
    console.print(f"Wrote {results.dir / 'bench-vs-reference.md'}")


@app.command()
def report() -> None:
    """Gather every lab's results page into results/REPORT.md."""
    from common.report import gather

    path = gather(["data", *(lab.id for lab in shell.repo_kit().labs)])
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
        shell.load_kit(workspace_path),
        preset=preset,
        mine=mine,
        console=console,
        err=err,
    )
    total = sum(outcome.seconds.values())
    console.print(
        f"\nDemo finished in {total:.0f} s. Report: [bold]{outcome.report}[/bold]"
    )
    if outcome.failures:
        raise KitError(f"these steps failed: {', '.join(outcome.failures)} (see above)")

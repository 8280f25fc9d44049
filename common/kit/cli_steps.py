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
from typing import Annotated, Any

import typer

from common.kit import cli_shell as shell
from common.kit import steps
from common.kit.cli_shell import LabArg, PresetOpt, WorkspaceOpt, app, console, err
from common.kit.errors import KitError
from common.kit.manifest import Kit
from common.kit.verify import verify as verify_labs


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
    lab = _prepare(shell.load_kit(workspace_path), lab_id, mine)
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
    lab = _prepare(shell.load_kit(workspace_path), lab_id, mine)
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

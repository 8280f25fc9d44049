"""Mock interview rounds on the command line: ``labkit interview ...``.

    labkit interview design ranking-service    a design round on your own figures
    labkit interview stats [--seed N]          generated statistics problems
    labkit interview ml [--seed N]             generated classical-ML problems
    labkit interview coding [--minutes 45]     two due drills under one clock
    labkit interview end                       end the coding round, write its summary

Every round also runs without a terminal: ``--answers FILE`` grades a TOML
file of answers, ``--json`` prints the questions (and with ``--answers``, the
grades) as JSON, ``--reveal`` shows the expected answers. A graded round is
written to ``results/interview/<UTC stamp>-<round>.md`` and ``.json``.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from rich.markup import escape

from common.interview import record, rounds, session
from common.interview.posing import plain_number
from common.interview.rounds import RoundPlan
from common.kit import cli_shell as shell
from common.kit import steps
from common.kit.cli_shell import WorkspaceOpt, app, console, err
from common.kit.errors import KitError
from common.kit.manifest import Kit

interview_app = typer.Typer(
    help="Mock interview rounds: design on your own figures, stats, ML, coding.",
    no_args_is_help=True,
)
app.add_typer(interview_app, name="interview")

AnswersOpt = Annotated[
    Path | None,
    typer.Option(
        "--answers",
        help="Grade a TOML file ([answers] <question id> = <answer>) instead of asking.",
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print the questions (and grades) as JSON on stdout."),
]
RevealOpt = Annotated[
    bool, typer.Option("--reveal", help="Show the expected answers and their working.")
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        help="The numbers' seed (default: new numbers, or the answers file's)."
    ),
]


@interview_app.command()
def design(
    scenario: Annotated[str, typer.Argument(metavar="SCENARIO")],
    answers: AnswersOpt = None,
    as_json: JsonOpt = False,
    reveal: RevealOpt = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """A design round (ranking-service, feature-store, batch-scoring, capacity-plan, llm-serving)."""
    kit = shell.load_kit(workspace_path)
    graded = session.load_answers(answers)[0] if answers else None
    _conduct(kit, lambda: rounds.design_round(kit, scenario), graded, as_json, reveal)


@interview_app.command()
def stats(
    seed: SeedOpt = None,
    answers: AnswersOpt = None,
    as_json: JsonOpt = False,
    reveal: RevealOpt = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Generated problems: sample size, power, p-values, intervals, Bayes, expectations."""
    _generated("stats", seed, answers, as_json, reveal, workspace_path)


@interview_app.command()
def ml(
    seed: SeedOpt = None,
    answers: AnswersOpt = None,
    as_json: JsonOpt = False,
    reveal: RevealOpt = False,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """Generated problems: metrics, impurity, regularisation, bagging, PCA, logistic."""
    _generated("ml", seed, answers, as_json, reveal, workspace_path)


def _generated(
    kind: str,
    seed: int | None,
    answers: Path | None,
    as_json: bool,
    reveal: bool,
    workspace_path: str | None,
) -> None:
    kit = shell.load_kit(workspace_path)
    graded = None
    if answers:
        graded, file_seed = session.load_answers(answers)
        seed = seed if seed is not None else file_seed
        if seed is None:
            raise KitError(
                f"{answers} answers numbers drawn from a seed it does not name: add "
                "`seed = N` at its top (the seed `--json` printed), or pass --seed N."
            )
    plan = rounds.generated_round(kit, kind, seed)
    _conduct(kit, lambda: plan, graded, as_json, reveal)


def _conduct(
    kit: Kit,
    build: Callable[[], RoundPlan],
    graded: dict[str, Any] | None,
    as_json: bool,
    reveal: bool,
) -> None:
    """Grade ``graded`` answers, print the questions (``--json``), or ask them."""
    plan = build()
    if graded is None and as_json:
        _print_json(record.plan_summary(plan, reveal))
        return
    if graded is not None:
        outcome = session.grade_answers(plan, graded)
        if as_json:  # reports what is missing even when nothing could be asked
            if plan.questions:
                record.write_record(outcome)
            _print_json(record.summary(outcome, reveal))
            return
        _require_questions(plan)
        page, data = record.write_record(outcome)
        _transcript(outcome)
        console.print(f"Wrote {page} and {data.name}", highlight=False)
        return
    if plan.missing_runs() and _offer_runs(kit, plan):
        plan = build()
    _require_questions(plan)
    if reveal:
        _answer_key(plan)
        return
    _header(plan)
    outcome = session.interview(
        plan, ask=lambda text: console.input(escape(text)), out=console
    )
    page, data = record.write_record(outcome)
    console.print(f"\n[bold]{escape(record.score_line(outcome))}[/bold]")
    console.print(f"Wrote {page} and {data.name}", highlight=False)


def _print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(
        json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n"
    )


def _runs_text(plan: RoundPlan) -> str:
    return ", ".join(f"`labkit run {lab}`" for lab in plan.missing_runs())


def _require_questions(plan: RoundPlan) -> None:
    if plan.questions:
        if plan.not_asked:
            err.print(
                f"[yellow]{len(plan.not_asked)} question(s) not asked:[/yellow] they "
                f"need figures from your own runs: {escape(_runs_text(plan))} (or "
                "`labkit demo`). The page lists them.",
                highlight=False,
            )
        return
    raise KitError(
        f"none of this round's {len(plan.not_asked)} questions can be asked yet: "
        f"they need figures from your own runs. Run {_runs_text(plan)} (or "
        "`labkit demo`, which runs every lab), then start the round again."
    )


def _offer_runs(kit: Kit, plan: RoundPlan) -> bool:
    """Say which runs write the missing figures; run those the candidate accepts."""
    ran = False
    for lab_id, references in plan.missing_runs().items():
        console.print(
            f"[yellow]Missing figures[/yellow] {escape(', '.join(references))}: "
            f"`labkit run {lab_id}` writes them.",
            highlight=False,
        )
        if typer.confirm(f"Run `labkit run {lab_id}` now?", default=False):
            try:
                results = steps.run_step(kit.lab(lab_id), "run")
            except KitError as exc:
                err.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
                continue
            console.print(f"Wrote {results.dir}", highlight=False)
            ran = True
    return ran


def _header(plan: RoundPlan) -> None:
    minutes = sum(step.minutes for step in plan.steps)
    seed = f" (seed {plan.seed})" if plan.seed is not None else ""
    console.print(f"[bold]{escape(plan.title)}[/bold]{seed} · about {minutes} min")
    if plan.brief:
        console.print(escape(plan.brief), highlight=False)
    console.print(
        "[dim]Type `skip` to leave a question; end of input (Ctrl-D) ends the round; "
        "what you answered is graded and written.[/dim]"
    )


def _transcript(outcome: session.Outcome) -> None:
    total = len(outcome.answered)
    for number, answered in enumerate(outcome.answered, start=1):
        console.print()
        lines = session.question_text(answered.posed, number, total)
        given = answered.grade.given
        shown = plain_number(given) if isinstance(given, float) else repr(given)
        lines.append(f"Your answer: {shown}")
        lines += session.feedback(answered)
        for line in lines:
            console.print(escape(line), highlight=False)
    for entry in record.not_asked(outcome.plan):
        console.print(
            f"[yellow]not asked[/yellow] {escape(entry['id'])}: "
            f"{escape(entry['reason'])}",
            highlight=False,
        )
    if outcome.unknown:
        console.print(
            f"[yellow]Answers to no question here:[/yellow] "
            f"{escape(', '.join(outcome.unknown))}",
            highlight=False,
        )
    console.print(f"\n[bold]{escape(record.score_line(outcome))}[/bold]")


def _answer_key(plan: RoundPlan) -> None:
    total = len(plan.questions)
    for number, posed in enumerate(plan.questions, start=1):
        lines = session.question_text(posed, number, total)
        lines.append(f"Answer: {posed.shown_answer()}")
        lines += [f"  {i}. {p}" for i, p in enumerate(posed.rubric, start=1)]
        if posed.computation:
            lines.append(f"Computation: {posed.computation}")
        lines.append(posed.explain)
        console.print()
        for line in filter(None, lines):
            console.print(escape(line), highlight=False)


def _coding_module() -> ModuleType:
    """``common.interview.coding``, imported when used: it comes with the drills."""
    try:
        return importlib.import_module("common.interview.coding")
    except ModuleNotFoundError as exc:
        if exc.name not in {"common.interview.coding", "common.interview"}:
            raise
        raise KitError(
            "coding rounds are not available yet in this kit: they come with "
            "`labkit drill` (common/interview/coding.py). Try a design, stats or ml round."
        ) from None


@interview_app.command()
def coding(
    minutes: Annotated[int, typer.Option(help="The round's clock.")] = 45,
    area: Annotated[
        str | None, typer.Option(help="systems, nn, ml, stats or dsa.")
    ] = None,
    workspace_path: WorkspaceOpt = None,
) -> None:
    """A coding round: two due drills under one clock (`labkit interview end` stops it)."""
    kit = shell.load_kit(workspace_path)
    _coding_module().start_coding_round(kit, minutes, area, console)


@interview_app.command()
def end(workspace_path: WorkspaceOpt = None) -> None:
    """End the coding round and write its summary to results/interview/."""
    kit = shell.load_kit(workspace_path)
    path = _coding_module().end_round(kit, console)
    if path is not None:
        console.print(f"Wrote {path}", highlight=False)

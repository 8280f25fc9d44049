"""Taking a round: asked at the terminal, or graded from an answers file.

    outcome = interview(plan, ask=console.input, out=console)   # interactive
    outcome = grade_answers(plan, load_answers(path))          # --answers FILE

An answers file is TOML::

    seed = 7                                  # stats/ml: the numbers answered
    [answers]
    online_serving.littles-law-latency = 14.2 # numeric: a number (or "14.2 ms")
    load_testing.closed-loop-error = "coordinated omission"   # short: text
    online_serving.batching-pays = "b"        # choice: the option's letter
    online_serving.store-down = [1, 2, 4]     # open: the rubric points made (from 1)

A bank question's id is ``<lab>.<id>`` (a dotted key, so TOML needs no
quotes); the bare ``<id>`` works too when no other question of the round has
it. Interactive rounds re-ask an answer that is not of its kind; ``skip``
leaves a question unanswered and end of input ends the round (what was
answered is still graded and written).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from common.interview.grading import Grade, InvalidAnswer, grade, grade_parsed, parse
from common.interview.posing import Posed, letter
from common.interview.rounds import RoundPlan
from common.kit.errors import KitError

Ask = Callable[
    [str], str
]  # shows a prompt, returns the typed line; EOFError at the end


@dataclass
class Answered:
    posed: Posed
    grade: Grade
    text: str = ""  # an open question's written answer
    seconds: float | None = None


@dataclass
class Outcome:
    plan: RoundPlan
    mode: str  # "interactive" or "answers"
    answered: list[Answered]
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    seconds: float = 0.0
    step_seconds: dict[str, float] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # answers to no question here
    ended_early: bool = False

    @property
    def points(self) -> float:
        return sum(a.grade.points for a in self.answered)

    @property
    def percent(self) -> float:
        return 100 * self.points / len(self.answered) if self.answered else 0.0


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys back to ids; a table with ``ticks`` is one open answer."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "ticks" not in value:
            flat |= _flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def load_answers(path: Path) -> tuple[dict[str, Any], int | None]:
    """The answers by question id, and the ``seed`` the file names (if any).

    Raises:
        KitError: the file is missing, not TOML, or has no ``[answers]`` table.
    """
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise KitError(
            f"cannot read the answers file {path}: {exc.strerror}."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise KitError(f"{path} is not valid TOML: {exc}.") from None
    answers = data.get("answers")
    if not isinstance(answers, dict):
        raise KitError(
            f"{path} has no [answers] table; write `[answers]` and then one "
            "`<question id> = <answer>` line per question."
        )
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise KitError(f"{path}: seed must be a whole number, got {seed!r}.")
    return _flatten(answers), seed


def _lookup(
    plan: RoundPlan, answers: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Each question's answer (by full or unique bare id) and the ids left over."""
    bare: dict[str, list[str]] = {}
    for posed in plan.questions:
        bare.setdefault(posed.id.rpartition(".")[2], []).append(posed.id)
    found: dict[str, Any] = {}
    used: set[str] = set()
    for key, value in answers.items():
        if key in {p.id for p in plan.questions}:
            found[key] = value
            used.add(key)
        elif len(bare.get(key, [])) == 1:
            found.setdefault(bare[key][0], value)
            used.add(key)
    return found, sorted(set(answers) - used)


def grade_answers(plan: RoundPlan, answers: Mapping[str, Any]) -> Outcome:
    """Grade every question from ``answers``; a missing answer is unanswered."""
    found, unknown = _lookup(plan, answers)
    answered = [
        Answered(posed, grade(posed, found.get(posed.id)), _text(found.get(posed.id)))
        for posed in plan.questions
    ]
    return Outcome(plan, "answers", answered, unknown=unknown)


def _text(value: Any) -> str:
    return str(value.get("text", "")) if isinstance(value, dict) else ""


def question_text(posed: Posed, number: int, total: int) -> list[str]:
    """How a question reads at the terminal and in a transcript (plain text)."""
    lines = [f"Q{number}/{total} [{posed.kind}] {posed.id}", posed.prompt]
    lines += [f"  {letter(i)}) {option}" for i, option in enumerate(posed.options)]
    if posed.kind == "numeric" and posed.tolerance is not None:
        unit = f"in {posed.unit}, " if posed.unit else ""
        lines.append(f"  ({unit}graded {posed.tolerance.describe()})")
    return lines


def feedback(answered: Answered, model_shown: bool = False) -> list[str]:
    """The verdict, the expected answer and how it is computed (plain text).

    ``model_shown``: an open question's model answer was shown already (it is
    shown before the candidate ticks the rubric), so it is not repeated.
    """
    posed, graded = answered.posed, answered.grade
    mark = {"correct": "✓", "partial": "~"}.get(graded.status, "✗")
    verdict = graded.detail  # an invalid answer's detail already says "invalid: ..."
    if not verdict.startswith(f"{graded.status}:"):
        verdict = f"{graded.status}: {verdict}"
    lines = [f"{mark} {verdict}"]
    if posed.kind == "open":
        if not model_shown:
            lines.append(f"  Model answer: {posed.model_answer}")
        ticks = set(graded.given or []) if graded.status != "invalid" else set()
        lines += [
            f"  [{'x' if i in ticks else ' '}] {i}. {point}"
            for i, point in enumerate(posed.rubric, start=1)
        ]
    elif graded.status != "correct" or posed.kind == "numeric":
        lines.append(f"  Expected: {posed.shown_answer()}")
    if posed.computation:
        lines.append(f"  Computation: {posed.computation}")
    if posed.explain:
        lines.append(f"  {posed.explain}")
    return lines


def _say(out: Console, lines: list[str], style: str = "") -> None:
    for line in lines:
        text = escape(line)
        out.print(f"[{style}]{text}[/{style}]" if style else text, highlight=False)


def _ask_open(posed: Posed, ask: Ask, out: Console) -> tuple[Grade, str]:
    out.print("Your answer (an empty line ends it; `skip` to skip):", highlight=False)
    lines: list[str] = []
    while (line := ask("  ")).strip() or not lines:
        if not lines and line.strip().lower() == "skip":
            return grade(posed, None), ""
        if line.strip():
            lines.append(line)
    _say(out, [f"Model answer: {posed.model_answer}", "Rubric:"])
    _say(out, [f"  {i}. {point}" for i, point in enumerate(posed.rubric, start=1)])
    while True:
        raw = ask("Which points did your answer make? (e.g. 1,3 or none) ")
        try:
            return grade_parsed(posed, parse(posed, raw)), "\n".join(lines)
        except InvalidAnswer as exc:
            _say(out, [f"That is {exc}"], "yellow")


def _ask_one(posed: Posed, number: int, total: int, ask: Ask, out: Console) -> Answered:
    out.print()
    _say(out, question_text(posed, number, total))
    began = time.perf_counter()
    text = ""
    if posed.kind == "open":
        graded, text = _ask_open(posed, ask, out)
    else:
        while True:
            raw = ask("> ")
            if raw.strip().lower() == "skip":
                graded = grade(posed, None)
                break
            try:
                graded = grade_parsed(posed, parse(posed, raw))
                break
            except InvalidAnswer as exc:
                _say(out, [f"That is {exc} Try again, or type skip."], "yellow")
    answered = Answered(posed, graded, text, time.perf_counter() - began)
    shown = posed.kind == "open" and graded.status != "unanswered"
    _say(out, feedback(answered, shown), "green" if graded.status == "correct" else "")
    return answered


def interview(plan: RoundPlan, ask: Ask, out: Console) -> Outcome:
    """Ask the round step by step, with each step's suggested time; grade as it goes."""
    outcome = Outcome(plan, "interactive", [])
    began = time.perf_counter()
    total, number = len(plan.questions), 0
    for index, step in enumerate(plan.steps, start=1):
        out.print(
            f"\n[bold]Step {index}/{len(plan.steps)} · {escape(step.title)}[/bold] "
            f"· suggested {step.minutes} min",
            highlight=False,
        )
        _say(out, [step.guide], "dim")
        step_began = time.perf_counter()
        try:
            questions = plan.questions_for(step)
            if not questions:
                ask("(No graded question in this step: talk it through, then Enter.) ")
            for posed in questions:
                number += 1
                outcome.answered.append(_ask_one(posed, number, total, ask, out))
        except (EOFError, KeyboardInterrupt):  # what was answered is still kept
            outcome.ended_early = True
        spent = time.perf_counter() - step_began
        outcome.step_seconds[step.id] = spent
        over = " (over)" if spent > 60 * step.minutes else ""
        out.print(f"[dim]Step took {spent / 60:.1f} min of {step.minutes}{over}.[/dim]")
        if outcome.ended_early:
            out.print("\n[yellow]The round stops here.[/yellow]")
            break
    asked = {a.posed.id for a in outcome.answered}
    outcome.answered += [
        Answered(p, grade(p, None)) for p in plan.questions if p.id not in asked
    ]
    outcome.seconds = time.perf_counter() - began
    return outcome

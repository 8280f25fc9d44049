"""A question made ready to ask: its templates filled in, its answer computed.

    posed = pose(question, values)          # values: the figures the question names
    posed.prompt, posed.expected, posed.computation

A bank :class:`~common.interview.bank.Question` holds templates and a formula;
a :class:`Posed` holds what the candidate reads and what the grader expects.
Generated problems (``stats_problems``, ``ml_problems``) build a
:class:`Posed` directly, with the answer the reference lab's code computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.interview import formula
from common.interview.figures import Figures, MissingFigure
from common.interview.question import Kind, Question, Tolerance


@dataclass(frozen=True)
class Posed:
    """One question of a round, as asked and as graded."""

    id: str  # unique in the round: "<lab>.<bank id>", or a generated problem's id
    kind: Kind
    prompt: str
    source: str  # where it comes from: a bank file, or the reference code used
    step: str | None = None
    expected: float | int | str | None = None  # value; option index; text; (open) None
    tolerance: Tolerance | None = None
    unit: str = ""
    computation: str = ""  # how the expected value follows from the numbers given
    explain: str = ""
    options: tuple[str, ...] = ()
    accept: tuple[str, ...] = ()
    model_answer: str = ""
    rubric: tuple[str, ...] = ()
    figures: Mapping[str, float] = field(default_factory=dict, hash=False)

    def key(self) -> Any:
        """The expected answer as an answers file writes it (``--reveal``)."""
        if self.kind == "choice":
            return letter(int(self.expected or 0))
        if self.kind == "open":
            return list(range(1, len(self.rubric) + 1))
        return self.expected

    def shown_answer(self) -> str:
        """The expected answer in words, for feedback."""
        if self.kind == "numeric":
            unit = f" {self.unit}" if self.unit else ""
            assert self.tolerance is not None
            return f"{plain_number(self.expected)}{unit} ({self.tolerance.describe()})"
        if self.kind == "choice":
            index = int(self.expected or 0)
            return f"{letter(index)}) {self.options[index]}"
        if self.kind == "short":
            return str(self.expected)
        return self.model_answer

    def public(self, reveal: bool) -> dict[str, Any]:
        """The question for ``--json``; the answer and working only with ``reveal``."""
        shown: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "step": self.step,
            "prompt": self.prompt,
            "source": self.source,
        }
        if self.kind == "numeric":
            assert self.tolerance is not None
            shown |= {"unit": self.unit, "tolerance": self.tolerance.as_dict()}
        if self.options:
            shown["options"] = {letter(i): o for i, o in enumerate(self.options)}
        if self.rubric:
            shown["rubric"] = {str(i + 1): p for i, p in enumerate(self.rubric)}
        if reveal:
            shown["expected"] = self.key()
            working = {
                "computation": self.computation,
                "explain": self.explain,
                "model_answer": self.model_answer,
            }
            shown |= {key: text for key, text in working.items() if text}
            shown["figures"] = dict(self.figures)
        return shown


def letter(index: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[index]


def plain_number(value: Any) -> str:
    """A number for people: whole numbers with separators, else 6 significant digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.6g}" if abs(value) >= 1 else f"{value:.6g}"


def read_figures(
    question: Question, figures: Figures
) -> tuple[dict[str, float], list[MissingFigure]]:
    """The question's figures by name, and every one that could not be read."""
    values: dict[str, float] = {}
    missing: list[MissingFigure] = []
    for name, reference in question.figures.items():
        try:
            values[name] = figures.value(reference)
        except MissingFigure as gap:
            missing.append(gap)
    return values, missing


def pose(question: Question, values: Mapping[str, float]) -> Posed:
    """Fill in ``question``'s templates with ``values`` and compute its answer.

    Raises:
        FormulaError: the formula cannot be computed with these values (a
            division by zero, a log of a negative figure).
    """
    expected: float | int | str | None = question.answer
    computation = ""
    if question.kind == "numeric":
        if isinstance(question.answer, str):
            expected = formula.evaluate(question.answer, values)
            used = formula.names_in(question.answer)
            bound = ", ".join(
                f"{k} = {plain_number(v)}" for k, v in values.items() if k in used
            )
            computation = f"{question.answer}" + (f" with {bound}" if bound else "")
            computation += f" = {plain_number(expected)}"
        else:
            computation = f"{plain_number(expected)} (a fixed answer)"
    names: dict[str, Any] = dict(values)
    explain = question.explain.format(**names, answer=expected)
    return Posed(
        id=question.qualified_id,
        kind=question.kind,
        prompt=question.prompt.format(**names),
        source=f"labs/{question.lab}/interview.toml",
        step=question.step,
        expected=expected,
        tolerance=question.tolerance,
        unit=question.unit,
        computation=computation,
        explain=explain,
        options=question.options,
        accept=question.accept,
        model_answer=question.model_answer.format(**names),
        rubric=question.rubric,
        figures=dict(values),
    )


def generated(
    problem_id: str,
    prompt: str,
    expected: float,
    *,
    source: str,
    tolerance: Tolerance,
    unit: str = "",
    computation: str,
    explain: str = "",
    given: Mapping[str, float] | None = None,
) -> Posed:
    """A numeric problem generated with seeded numbers and computed by ``source``.

    ``given`` holds the numbers the prompt states, by name (kept in the record
    as the question's figures, so the answer can be checked independently).
    """
    return Posed(
        id=problem_id,
        kind="numeric",
        prompt=prompt,
        source=source,
        expected=float(expected),
        tolerance=tolerance,
        unit=unit,
        computation=computation,
        explain=explain,
        figures=dict(given or {}),
    )

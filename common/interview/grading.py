"""Grading one answer: numbers within a tolerance, an option, a short text, rubric ticks.

    grade(posed, "27")            # Grade(status="correct", points=1.0, ...)
    grade(posed, "twenty")        # Grade(status="invalid", detail="invalid: not a number ...")
    parse(posed, "twenty")        # raises InvalidAnswer: the interactive round re-asks

An answer arrives as typed text (interactive) or as a TOML value (``--answers``):
a number, an option's letter, a text, or the rubric points ticked (numbered
from 1 as shown, e.g. ``[1, 3]``). An answer that cannot be read as its kind
is *invalid*: 0 points, its own status, never graded as a wrong number.

Each question is worth one point; an open question earns the share of its
rubric the candidate ticked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from common.interview.posing import Posed, letter, plain_number

Status = Literal["correct", "wrong", "partial", "invalid", "unanswered"]
THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


class InvalidAnswer(ValueError):
    """An answer that is not of its question's kind; the message says what to type."""


@dataclass(frozen=True)
class Grade:
    status: Status
    points: float
    given: Any = None  # the answer as read: a number, an option index, text, ticks
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "points": self.points,
            "given": self.given,
            "detail": self.detail,
        }


def parse_number(raw: Any, unit: str = "") -> float:
    """A number from a TOML value or typed text (``1,234``, ``27 replicas``, ``5e-3``)."""
    if isinstance(raw, bool):
        raise InvalidAnswer(f"not a number ({raw!r}); write digits, e.g. 27 or 0.05.")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if unit and text.lower().endswith(unit.lower()):
            text = text[: -len(unit)].strip()
        if THOUSANDS.match(text):
            text = text.replace(",", "")
        try:
            value = float(text)
        except ValueError:
            raise InvalidAnswer(
                f"not a number ({raw!r}); write digits, e.g. 27 or 0.05 (a point, "
                "not a comma, before decimals)."
            ) from None
    else:
        raise InvalidAnswer(f"not a number ({raw!r}); write digits, e.g. 27 or 0.05.")
    if not math.isfinite(value):
        raise InvalidAnswer(f"not a number ({raw!r}); give a finite value.")
    return value


def _normal(text: str) -> str:
    """Case, spaces, quotes, backticks and a final full stop do not matter."""
    return re.sub(r"\s+", "", text.strip().rstrip(".").strip("`'\"").lower())


def _option(posed: Posed, raw: Any) -> int:
    letters = [letter(i) for i in range(len(posed.options))]
    if isinstance(raw, str):
        text = raw.strip().rstrip(")").lower()
        if text in letters:
            return letters.index(text)
        for index, option in enumerate(posed.options):
            if _normal(raw) == _normal(option):
                return index
    raise InvalidAnswer(
        f"not an option ({raw!r}); answer with a letter, {letters[0]} to {letters[-1]}."
    )


def _ticks(posed: Posed, raw: Any) -> list[int]:
    size = len(posed.rubric)
    if isinstance(raw, dict):  # an answers file may keep the text beside the ticks
        raw = raw.get("ticks")
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in {"none", "0", "-"}:
            return []
        parts = [p for p in re.split(r"[\s,]+", text) if p]
        if not all(p.isdigit() for p in parts):
            raise InvalidAnswer(
                f"not a list of points ({raw!r}); type the numbers of the points your "
                f"answer made, e.g. 1,3 (1 to {size}), or none."
            )
        raw = [int(p) for p in parts]
    if not isinstance(raw, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) for t in raw
    ):
        raise InvalidAnswer(
            f"not a list of points ({raw!r}); give the rubric points ticked, e.g. [1, 3]."
        )
    outside = [t for t in raw if not 1 <= t <= size]
    if outside:
        raise InvalidAnswer(f"points {outside} are not on the rubric (1 to {size}).")
    return sorted(set(raw))


def parse(posed: Posed, raw: Any) -> Any:
    """The answer as its kind: a float, an option index, a text, or sorted ticks.

    Raises:
        InvalidAnswer: with what to type instead.
    """
    if posed.kind == "numeric":
        return parse_number(raw, posed.unit)
    if posed.kind == "choice":
        return _option(posed, raw)
    if posed.kind == "short":
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidAnswer(f"not a text answer ({raw!r}); type a word or a name.")
        return raw.strip()
    return _ticks(posed, raw)


def grade(posed: Posed, raw: Any) -> Grade:
    """Grade ``raw`` (``None``: unanswered); never raises for a bad answer."""
    if raw is None:
        return Grade("unanswered", 0.0, None, "not answered")
    try:
        value = parse(posed, raw)
    except InvalidAnswer as exc:
        return Grade("invalid", 0.0, raw, f"invalid: {exc}")
    return grade_parsed(posed, value)


def grade_parsed(posed: Posed, value: Any) -> Grade:
    """Grade an answer already read by :func:`parse`."""
    if posed.kind == "numeric":
        assert posed.tolerance is not None and posed.expected is not None
        expected = float(posed.expected)
        ok = posed.tolerance.accepts(value, expected)
        rule = posed.tolerance.describe()
        detail = (
            f"{plain_number(value)} is{'' if ok else ' not'} {rule}"
            f"{'' if rule == 'exactly' else ' of'} {plain_number(expected)}"
        )
        return Grade("correct" if ok else "wrong", float(ok), value, detail)
    if posed.kind == "choice":
        ok = value == posed.expected
        right = "" if ok else f"; the answer is {posed.shown_answer()}"
        return Grade(
            "correct" if ok else "wrong",
            float(ok),
            letter(value),
            f"you chose {letter(value)}{right}",
        )
    if posed.kind == "short":
        accepted = {_normal(str(posed.expected)), *map(_normal, posed.accept)}
        ok = _normal(value) in accepted
        detail = f"{value!r}" + ("" if ok else f"; the answer is {posed.expected}")
        return Grade("correct" if ok else "wrong", float(ok), value, detail)
    size = len(posed.rubric)
    share = len(value) / size
    status: Status = "correct" if share == 1 else "partial" if value else "wrong"
    return Grade(status, share, value, f"{len(value)} of {size} rubric points")

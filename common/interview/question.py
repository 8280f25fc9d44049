"""A question of a lab's bank, as written: its kind, step, templates and tolerance.

``bank.py`` loads and checks these from ``labs/<lab>/interview.toml``;
``posing.py`` fills a question in with the candidate's figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

Kind = Literal["numeric", "choice", "short", "open"]
KINDS: tuple[str, ...] = get_args(Kind)
STEPS = (
    "requirements",
    "back-of-the-envelope",
    "components",
    "deep-dive",
    "trade-offs",
)


@dataclass(frozen=True)
class Tolerance:
    """How far a numeric answer may be from the expected one and still count."""

    absolute: float | None = None  # |given − expected| ≤ absolute
    relative: float | None = None  # |given − expected| ≤ relative × |expected|

    def accepts(self, given: float, expected: float) -> bool:
        gap = abs(given - expected)
        if self.absolute is not None:
            return gap <= self.absolute + 1e-12 * max(1.0, abs(expected))
        return gap <= (self.relative or 0.0) * abs(expected)

    def describe(self) -> str:
        """``exactly``, ``within ± 2`` or ``within 5%``."""
        if self.absolute is not None:
            return "exactly" if self.absolute == 0 else f"within ± {self.absolute:g}"
        return f"within {100 * (self.relative or 0):g}%"

    def as_dict(self) -> dict[str, float]:
        if self.absolute is not None:
            return {"abs": self.absolute}
        return {"rel": self.relative or 0.0}


@dataclass(frozen=True)
class Question:
    """One question of a lab's bank, as written (templates not yet filled in)."""

    id: str
    lab: str
    kind: Kind
    prompt: str
    scenarios: tuple[str, ...] = ()
    step: str | None = None
    figures: Mapping[str, str] = field(default_factory=dict, hash=False)
    answer: str | float | int | None = None  # formula or number, index, text
    tolerance: Tolerance | None = None
    unit: str = ""
    explain: str = ""
    options: tuple[str, ...] = ()
    accept: tuple[str, ...] = ()
    model_answer: str = ""
    rubric: tuple[str, ...] = ()

    @property
    def qualified_id(self) -> str:
        """``<lab>.<id>``: unique across labs, and a dotted key in an answers file."""
        return f"{self.lab}.{self.id}"

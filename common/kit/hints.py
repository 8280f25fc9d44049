"""Hints that cannot mislead: every code fragment in a hint is the reference's.

The last hint is where a stuck candidate ends up, and a snippet pasted from
it must be right. So ``labkit verify`` reads every fragment in backticks of
every hint and requires it to occur in the lab's reference source, with
whitespace ignored and ``...`` standing for any code. Two kinds are exempt:

- a bare name (``searchsorted``, ``self.pending``, ``fit()``) or a file name
  (``pit_join.py``): checking those would prove nothing;
- a fragment marked as pseudo-code with a leading ``~`` (``~S(t) = Σ ...``):
  maths or a sketch that is not meant to be pasted. ``labkit hint`` shows it
  without the ``~`` and labels it a sketch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.kit.manifest import Lab

_SPAN = re.compile(r"`([^`]+)`")
_NAME = re.compile(r"^[A-Za-z_][\w.]*(\(\))?$")
_FILE = re.compile(r"^[\w/.-]+\.(py|toml|md|json|yaml|txt)$")
_ELLIPSIS = re.compile(r"\.\.\.|…")
PSEUDO = "~"


@dataclass(frozen=True)
class HintProblem:
    milestone: str
    hint: int  # 1-based
    fragment: str

    def __str__(self) -> str:
        return (
            f"{self.milestone} hint {self.hint}: `{self.fragment}` is not in the "
            "reference source (whitespace ignored, ... matches anything); fix the "
            f"snippet, or mark it as pseudo-code: `{PSEUDO}{self.fragment}`"
        )


def fragments(hint: str) -> list[str]:
    """The code fragments of a hint: the text between backticks."""
    return [span.strip() for span in _SPAN.findall(hint)]


def needs_checking(fragment: str) -> bool:
    """Whether ``fragment`` is code to find in the reference (see the module doc)."""
    return not (
        fragment.startswith(PSEUDO) or _NAME.match(fragment) or _FILE.match(fragment)
    )


def _pattern(fragment: str) -> re.Pattern[str]:
    pieces = _ELLIPSIS.split("".join(fragment.split()))
    return re.compile(".*?".join(re.escape(piece) for piece in pieces), re.DOTALL)


def reference_text(lab: Lab) -> str:
    """The lab's Python source with all whitespace removed."""
    return "".join(
        "".join((lab.package_dir / rel).read_text().split())
        for rel in lab.source_files()
        if rel.suffix == ".py"
    )


def check_hints(lab: Lab) -> list[HintProblem]:
    """Every fragment of ``lab``'s hints that the reference does not contain."""
    source = reference_text(lab)
    problems = []
    for milestone in lab.milestones:
        for number, hint in enumerate(milestone.hints, start=1):
            for fragment in fragments(hint):
                if needs_checking(fragment) and not _pattern(fragment).search(source):
                    problems.append(HintProblem(milestone.id, number, fragment))
    return problems


def render(hint: str) -> str:
    """A hint as the candidate sees it: pseudo-code marks become a label."""
    return _SPAN.sub(
        lambda m: (
            f"`{m.group(1).strip()[len(PSEUDO) :].strip()}` (sketch)"
            if m.group(1).strip().startswith(PSEUDO)
            else m.group(0)
        ),
        hint,
    )

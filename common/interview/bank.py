"""Question banks: ``labs/<lab>/interview.toml``, loaded and checked field by field.

    [[question]]
    id = "replicas-for-10x-peak"          # lower-case words and hyphens, unique in the lab
    kind = "numeric"                      # numeric | choice | short | open
    scenarios = ["ranking-service"]       # design rounds that ask it (may be empty)
    step = "back-of-the-envelope"         # requirements | back-of-the-envelope |
                                          # components | deep-dive | trade-offs
    prompt = "The knee is {knee_rps:,.0f} req/s per replica. ..."
    figures = { knee_rps = "load_testing:variants.batching_on.knee_rps" }
    answer = "ceil(40000 / (round(knee_rps) * (1 - 0.3)))"   # see formula.py
    tolerance = { abs = 0 }               # or { rel = 0.05 }; a number may be the answer
    unit = "replicas"
    explain = "Each replica is trusted to {knee_rps:,.0f} × 0.7 ...: {answer} replicas."
    # choice:  options = ["...", "..."], answer = 1 (0-based index)
    # short:   answer = "searchsorted", accept = ["np.searchsorted"] (case and spaces ignored)
    # open:    model_answer = "... {figure} ...", rubric = ["point", ...] (3 to 6 points)

Templates (``prompt``, ``explain``, ``model_answer``) name figures as
``{name}`` or ``{name:<format spec>}``; a numeric question's ``explain`` may
also use ``{answer}``, the computed value. Every problem is reported as a :class:`BankError`
naming the file and the question, so a broken bank fails when it is loaded.
"""

from __future__ import annotations

import math
import re
import string
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from common.interview import formula
from common.interview.figures import split_reference
from common.interview.question import KINDS, STEPS, Question, Tolerance
from common.kit.errors import KitError

BANK_FILE = "interview.toml"
ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
COMMON_KEYS = {"id", "kind", "scenarios", "step", "prompt", "figures", "explain"}
KIND_KEYS = {
    "numeric": {"answer", "tolerance", "unit"},
    "choice": {"options", "answer"},
    "short": {"answer", "accept"},
    "open": {"model_answer", "rubric"},
}
RUBRIC_SIZE = (3, 6)


class BankError(KitError, ValueError):
    """A question bank has a field that is missing, mistyped or inconsistent."""


def bank_path(package_dir: Path) -> Path:
    return package_dir / BANK_FILE


def load_bank(
    path: Path, lab: str, scenarios: Collection[str] | None = None
) -> list[Question]:
    """Every question in ``path`` (none if the file does not exist), checked.

    Args:
        lab: the lab the bank belongs to (the questions' ``lab``).
        scenarios: the known design scenarios; a question naming another is
            an error (``None``: not checked).

    Raises:
        BankError: naming the file and the question, for any problem.
    """
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BankError(f"{path}: not valid TOML: {exc}.") from None
    extra = set(data) - {"question"}
    if extra:
        raise BankError(
            f"{path}: unknown top-level keys {sorted(extra)}; a bank holds only "
            "[[question]] tables."
        )
    entries = data.get("question", [])
    if not isinstance(entries, list):
        raise BankError(f"{path}: write each question as a [[question]] table.")
    questions: list[Question] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: question #{number}"
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            where = f"{path}: question {entry['id']!r}"
        question = _question(entry, lab, scenarios, where)
        if question.id in seen:
            raise BankError(
                f"{where}: the id is used twice in this bank; ids are unique."
            )
        seen.add(question.id)
        questions.append(question)
    return questions


def _question(
    entry: Any, lab: str, scenarios: Collection[str] | None, where: str
) -> Question:
    if not isinstance(entry, dict):
        raise BankError(f"{where}: a question must be a table of fields.")

    def fail(message: str) -> BankError:
        return BankError(f"{where}: {message}")

    qid, kind = entry.get("id"), entry.get("kind")
    if not isinstance(qid, str) or not ID.match(qid):
        raise fail(f"id {qid!r} must be lower-case words and hyphens, e.g. 'knee-rps'.")
    if kind not in KINDS:
        raise fail(f"kind {kind!r} must be one of {', '.join(KINDS)}.")
    unknown = set(entry) - COMMON_KEYS - KIND_KEYS[kind]
    if unknown:
        raise fail(
            f"unknown field(s) {sorted(unknown)} for a {kind} question; its fields "
            f"are {sorted(COMMON_KEYS | KIND_KEYS[kind])}."
        )
    names = _figures(entry.get("figures", {}), fail)
    on = _strings(entry.get("scenarios", []), "scenarios", fail)
    if scenarios is not None and set(on) - set(scenarios):
        raise fail(
            f"scenarios {sorted(set(on) - set(scenarios))} are not design scenarios; "
            f"known: {', '.join(sorted(scenarios))}."
        )
    step = entry.get("step")
    if step is None and on:
        raise fail(
            f"a question used in design rounds needs a step: {', '.join(STEPS)}."
        )
    if step is not None and step not in STEPS:
        raise fail(f"step {step!r} must be one of {', '.join(STEPS)}.")
    prompt = _template(entry.get("prompt"), "prompt", set(names), fail, required=True)
    # a numeric explanation may quote the computed answer; other kinds state it
    explained = set(names) | ({"answer"} if kind == "numeric" else set())
    fields: dict[str, Any] = {
        "explain": _template(entry.get("explain", ""), "explain", explained, fail)
    }
    if kind == "numeric":
        fields.update(_numeric(entry, set(names), fail))
    elif kind == "choice":
        fields.update(_choice(entry, fail))
    elif kind == "short":
        answer = entry.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            raise fail('a short question needs answer = "the expected text".')
        fields["answer"] = answer
        fields["accept"] = tuple(_strings(entry.get("accept", []), "accept", fail))
    else:
        fields["model_answer"] = _template(
            entry.get("model_answer"), "model_answer", set(names), fail, required=True
        )
        rubric = _strings(entry.get("rubric"), "rubric", fail)
        low, high = RUBRIC_SIZE
        if not low <= len(rubric) <= high:
            raise fail(f"rubric has {len(rubric)} points; give {low} to {high}.")
        fields["rubric"] = tuple(rubric)
    return Question(
        id=qid, lab=lab, kind=kind, prompt=prompt, scenarios=tuple(on), step=step,
        figures=names, **fields,
    )  # fmt: skip


def _figures(value: Any, fail: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise fail('figures must be a table: { name = "<lab>:<dotted path>" }.')
    for name, reference in value.items():
        if not NAME.match(name) or name in formula.FUNCTIONS or name == "answer":
            raise fail(
                f"figure name {name!r} must be a lower-case identifier that is not a "
                "function's name or 'answer'."
            )
        try:
            split_reference(reference)
        except ValueError as exc:
            raise fail(f"figure {name!r}: {exc}") from None
    return dict(value)


def _strings(value: Any, what: str, fail: Any) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        raise fail(f"{what} must be a list of non-empty strings, got {value!r}.")
    return value


def _template(
    value: Any, what: str, names: set[str], fail: Any, required: bool = False
) -> str:
    """Check ``{name:spec}`` fields against ``names`` by filling them with 1.0."""
    if not isinstance(value, str) or (required and not value.strip()):
        raise fail(f"{what} must be a {'non-empty ' if required else ''}string.")
    try:
        fields = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise fail(
            f"{what} has a malformed {{field}} ({exc}); write {{{{ for a brace."
        ) from None
    for _, name, spec, _ in fields:
        if name is None:
            continue
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise fail(
                f"{what} names {{{name}}}, which is not one of its figures (known: {known})."
            )
        if spec and "{" in spec:
            raise fail(
                f"{what}: the format of {{{name}}} may not contain another field."
            )
    try:
        value.format(**dict.fromkeys(names, 1.0))
    except (ValueError, TypeError) as exc:
        raise fail(f"{what} has a format that a number cannot take ({exc}).") from None
    return value


def _numeric(entry: dict[str, Any], names: set[str], fail: Any) -> dict[str, Any]:
    answer = entry.get("answer")
    if isinstance(answer, str):
        try:
            formula.check(answer, names)
        except formula.FormulaError as exc:
            raise fail(f"answer: {exc}") from None
    elif isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise fail(
            "a numeric question needs answer = a formula over its figures or a number."
        )
    elif not math.isfinite(answer):
        raise fail(f"answer {answer} is not a finite number.")
    tolerance = entry.get("tolerance")
    if not isinstance(tolerance, dict) or len(tolerance) != 1:
        raise fail("a numeric question needs tolerance = { abs = X } or { rel = X }.")
    (key, size), = tolerance.items()  # fmt: skip
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise fail(f"tolerance {key} must be a number, got {size!r}.")
    if key == "abs" and size >= 0:
        rule = Tolerance(absolute=float(size))
    elif key == "rel" and 0 < size < 1:
        # at 1 or more, twice the answer (or zero) would be graded right
        rule = Tolerance(relative=float(size))
    else:
        raise fail(
            f"tolerance {{ {key} = {size} }}: use abs ≥ 0 or 0 < rel < 1 (a fraction)."
        )
    unit = entry.get("unit", "")
    if not isinstance(unit, str):
        raise fail(f"unit must be a string, got {unit!r}.")
    return {"answer": answer, "tolerance": rule, "unit": unit}


def _choice(entry: dict[str, Any], fail: Any) -> dict[str, Any]:
    options = _strings(entry.get("options"), "options", fail)
    if not 2 <= len(options) <= 26 or len(set(options)) != len(options):
        raise fail("options must hold 2 to 26 different answers.")
    answer = entry.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise fail(
            f"answer must be the 0-based index of the right option, got {answer!r}."
        )
    if not 0 <= answer < len(options):
        raise fail(
            f"answer {answer} is not an option's index (0 to {len(options) - 1})."
        )
    return {"options": tuple(options), "answer": answer}

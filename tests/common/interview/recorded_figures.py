"""What a lab's ``run`` can record, read from its source without running it.

    is_recorded("feature_store:pit_join.rows_per_s")      # True
    is_recorded("feature_store:pit_join.rows_per_second")  # False

A figure reference ``<lab>:<dotted path>`` is recorded when the path's first
segment is the name of a ``results.add(...)`` call in a module of the lab that
its ``run`` reaches by imports, and each later segment is a key that code
reachable from ``run`` (the lab, ``common``, ``infra``) writes: a string or
number literal, or an f-string whose holes hold such keys. Keys are compared
as ``common/interview/figures.py`` compares them. This finds a misspelt or
renamed figure at once; it cannot tell which nested dict a key lands in,
which only a real run shows (the extended test in ``test_banks.py``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from common.interview.figures import split_reference
from common.kit.manifest import Kit

REPO = Path(__file__).resolve().parents[3]
OWN_PACKAGES = ("labs", "common", "infra")


def _norm(key: str) -> str:
    """Keys compare as ``figures.py`` compares them: case, spaces and hyphens aside."""
    return re.sub(r"[\s\-]+", "_", key.lower())


def _module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def _imports(name: str, tree: ast.AST) -> set[str]:
    """Every module of ours that ``name`` imports, at the top or inside functions."""
    package = (
        name if _module_file(name).name == "__init__.py" else name.rpartition(".")[0]
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m.split(".")[0] in OWN_PACKAGES and _module_file(m)}


Template = tuple[str | None, ...]  # literal pieces, and None for an f-string's holes


def _template(node: ast.expr) -> Template | None:
    """A literal (string or number), or an f-string as pieces and holes; normalised."""
    if isinstance(node, ast.Constant) and type(node.value) in (str, int, float):
        return (_norm(str(node.value)),)
    if isinstance(node, ast.JoinedStr):
        return tuple(
            _norm(str(v.value)) if isinstance(v, ast.Constant) else None
            for v in node.values
        )
    return None


def _fills(text: str, template: Template, hole: Callable[[str], bool]) -> bool:
    """Whether ``text`` is ``template`` with each hole filled by a text ``hole`` accepts."""
    if not template:
        return not text
    head, rest = template[0], template[1:]
    if head is not None:
        return text.startswith(head) and _fills(text[len(head) :], rest, hole)
    if rest and rest[-1] is not None and not text.endswith(rest[-1]):
        return False
    return any(
        _fills(text[end:], rest, hole) and hole(text[:end])
        for end in range(1, len(text) + 1)
    )


@dataclass(frozen=True)
class Recorded:
    """What a lab's ``run`` code can write: its ``results.add`` names, and every key."""

    names: tuple[Template, ...]
    fstrings: tuple[Template, ...]
    literals: frozenset[str]

    def has_name(self, text: str) -> bool:
        return any(_fills(text, name, self.has_key) for name in self.names)

    @cache  # noqa: B019 - one instance per lab, kept for the session anyway
    def has_key(self, text: str, depth: int = 2) -> bool:
        """A literal of the code, or an f-string whose holes hold keys (nested twice)."""
        if text in self.literals:
            return True
        return depth > 0 and any(
            _fills(text, key, lambda part: self.has_key(part, depth - 1))
            for key in self.fstrings
        )


@cache
def recorded(lab_id: str) -> Recorded:
    """Read every module ``run`` reaches by imports (labs, common, infra)."""
    start = Kit().lab(lab_id).run
    assert start, f"{lab_id} has no run step"
    seen: set[str] = set()
    todo = [start.partition(":")[0]]
    names: list[Template] = []
    keys: list[Template] = []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse(_module_file(name).read_text())
        todo += sorted(_imports(name, tree) - seen)
        for node in ast.walk(tree):
            template = _template(node) if isinstance(node, ast.expr) else None
            if template is not None:
                keys.append(template)
            if (
                name.startswith(f"labs.{lab_id}.")
                and isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "results"
                and node.args
                and (added := _template(node.args[0])) is not None
            ):
                names.append(added)
    literals = frozenset(k[0] for k in keys if len(k) == 1 and k[0] is not None)
    fstrings = tuple(dict.fromkeys(k for k in keys if None in k))
    return Recorded(tuple(names), fstrings, literals)


def is_recorded(reference: str) -> bool:
    """Whether ``reference``'s path is made of names the lab's run code writes."""
    lab_id, parts = split_reference(reference)
    code = recorded(lab_id)
    known = code.has_name
    while parts:
        # a key may hold a dot itself ("open loop, 1.5× capacity"): longest first
        taken = next(
            (n for n in range(len(parts), 0, -1) if known(_norm(".".join(parts[:n])))),
            0,
        )
        if not taken:
            return False
        parts, known = parts[taken:], code.has_key
    return True

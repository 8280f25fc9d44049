"""``labkit diff``: the candidate's functions beside the reference's.

Regions are compared function by function (found with ``ast`` by qualified
name), so it works however much the candidate rewrote inside a function.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from common.kit.manifest import Kit, Lab
from common.kit.regions import is_marker


@dataclass(frozen=True)
class FunctionDiff:
    milestone: str
    file: Path  # relative to the lab folder
    function: str
    diff: str  # unified diff, empty when identical


def _function_source(source: str, qualname: str) -> str | None:
    tree = ast.parse(source)
    parts = qualname.split(".")
    nodes: list[ast.stmt] = tree.body
    found: ast.AST | None = None
    for part in parts:
        found = next(
            (
                n
                for n in nodes
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and n.name == part
            ),
            None,
        )
        if found is None:
            return None
        nodes = found.body
    return (
        ast.get_source_segment(source, found, padded=True)
        if found is not None
        else None
    )


def diff_lab(kit: Kit, lab: Lab, milestones: Collection[str]) -> list[FunctionDiff]:
    """Diff every function that holds a region of ``milestones``."""
    workspace = kit.workspace_lab(lab)
    diffs: list[FunctionDiff] = []
    seen: set[tuple[Path, str]] = set()
    for region in lab.regions():
        if region.milestone not in milestones:
            continue
        rel = region.path.relative_to(lab.package_dir)
        if (rel, region.function) in seen:
            continue
        seen.add((rel, region.function))
        reference = _function_source(region.path.read_text(), region.function) or ""
        reference = "".join(
            line for line in reference.splitlines(keepends=True) if not is_marker(line)
        )
        mine_path = workspace / rel
        try:
            mine = (
                _function_source(mine_path.read_text(), region.function)
                if mine_path.exists()
                else None
            )
        except SyntaxError:
            mine = None
        if mine is None:
            mine = f"# {region.function} not found in {mine_path}\n"
        text = "".join(
            difflib.unified_diff(
                mine.splitlines(keepends=True),
                reference.splitlines(keepends=True),
                fromfile=f"yours/{rel}:{region.function}",
                tofile=f"reference/{rel}:{region.function}",
            )
        )
        diffs.append(FunctionDiff(region.milestone, rel, region.function, text))
    return diffs

"""``labkit diff``: each of the candidate's functions beside the reference's.

Functions holding a region are compared whole, found with ``ast`` by
qualified name, so it works however much the candidate rewrote inside a
function. Each pair is classed so that the eye goes to real differences:

- ``identical``: the same text;
- ``formatting``: the same syntax tree (spacing, line breaks, comments);
- ``different``: anything else, shown in full beside the reference, with a
  unified diff under it.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from common.kit.manifest import Kit, Lab
from common.kit.regions import find_definition, is_marker


@dataclass(frozen=True)
class FunctionDiff:
    milestone: str
    file: Path  # relative to the lab folder
    function: str
    mine: str  # the candidate's function, or a note that it is missing
    reference: str
    kind: str  # identical | formatting | different

    @property
    def diff(self) -> str:
        """A unified diff, yours then the reference; empty when identical."""
        if self.kind == "identical":
            return ""
        return "".join(
            difflib.unified_diff(
                self.mine.splitlines(keepends=True),
                self.reference.splitlines(keepends=True),
                fromfile=f"yours/{self.file}:{self.function}",
                tofile=f"reference/{self.file}:{self.function}",
            )
        )


def _function_source(source: str, qualname: str) -> str | None:
    found = find_definition(ast.parse(source), qualname)
    if found is None:
        return None
    text = ast.get_source_segment(source, found, padded=True) or ""
    return text if text.endswith("\n") else text + "\n"  # never glue two last lines


def _same_tree(a: str, b: str) -> bool:
    try:
        return ast.dump(ast.parse(a.strip())) == ast.dump(ast.parse(b.strip()))
    except SyntaxError:
        return False


def classify(mine: str, reference: str) -> str:
    if mine == reference:
        return "identical"
    return "formatting" if _same_tree(mine, reference) else "different"


def diff_lab(kit: Kit, lab: Lab, milestones: Collection[str]) -> list[FunctionDiff]:
    """Compare every function that holds a region of ``milestones``."""
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
        diffs.append(
            FunctionDiff(
                region.milestone,
                rel,
                region.function,
                mine,
                reference,
                classify(mine, reference),
            )
        )
    return diffs

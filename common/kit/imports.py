"""Who imports whom: every import of a file, at top level or inside a function.

The kit's import rules (``labs/README.md``) are checked from this, and
``labkit verify``'s cache uses it to know which other labs' code a lab's
result depends on.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One imported module name, where it is imported, and whether at module level."""

    path: Path
    line: int
    module: str  # absolute dotted name, e.g. "labs.feature_store.store"
    top_level: bool


def imports_of(path: Path, package: str | None = None) -> list[Import]:
    """Every import in ``path``; relative imports resolve against ``package``.

    ``from labs.training import x`` yields ``labs.training`` (and
    ``labs.training.x``, which may be a module); ``import a.b`` yields ``a.b``.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(node) for node in tree.body}
    # Statements under a module-level `if`/`try` still run at import time.
    for statement in tree.body:
        if isinstance(statement, (ast.If, ast.Try)):
            top.update(id(child) for child in ast.walk(statement))
    found: list[Import] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level and package:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        found.extend(
            Import(path, node.lineno, name, id(node) in top) for name in names if name
        )
    return found


def labs_imported(paths: Iterable[Path], package: str = "labs") -> set[str]:
    """The lab ids (``labs.<id>``) that any of ``paths`` imports."""
    prefix = package + "."
    return {
        imp.module.split(".")[1]
        for path in paths
        for imp in imports_of(path)
        if imp.module.startswith(prefix)
    }

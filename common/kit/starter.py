"""Build a lab's starter: the reference package with solution regions rewritten.

The starter is never committed; it is generated from the reference whenever a
candidate starts a lab, and by ``labkit verify`` with one milestone stubbed at
a time. The same machinery writes the other variants of a lab: a drill (one
region stubbed) and a known wrong answer (a region replaced by a plausible
mistake).
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Callable, Collection
from pathlib import Path

from common.kit.manifest import Lab, module_name
from common.kit.regions import (
    Region,
    RegionError,
    name_regions,
    parse_regions,
    rewrite_source,
    stub_lines,
)

# (region id, region) -> the lines that replace its body, or None to keep it
Replacement = Callable[[str, Region], "list[str] | None"]


def variant_sources(lab: Lab, replacement: Replacement) -> dict[Path, str | bytes]:
    """Every file of the lab with regions rewritten, relative path -> content.

    Raises:
        RegionError: a marker is malformed, or a rewritten file does not parse.
    """
    ids = {m.id for m in lab.milestones}
    files: dict[Path, str | bytes] = {}
    for rel in lab.source_files():
        path = lab.package_dir / rel
        if rel.suffix != ".py":
            files[rel] = path.read_bytes()
            continue
        source = path.read_text()
        regions = parse_regions(source, path, ids)
        named = {r.begin: rid for rid, r in name_regions(module_name(rel), regions)}
        rewritten = rewrite_source(source, regions, _by_id(named, replacement))
        try:
            ast.parse(rewritten, filename=str(path))
        except SyntaxError as exc:
            raise RegionError(
                f"{path}: the rewritten file does not parse ({exc.msg} at line "
                f"{exc.lineno}); move the markers so a whole block is fenced, or "
                "fix the replacement body."
            ) from exc
        files[rel] = rewritten
    return files


def _by_id(
    named: dict[int, str], replacement: Replacement
) -> Callable[[Region], list[str] | None]:
    return lambda region: replacement(named[region.begin], region)


def starter_sources(
    lab: Lab, stub: Collection[str] | None = None
) -> dict[Path, str | bytes]:
    """Every file of the starter, relative path -> content.

    Args:
        lab: the lab whose reference package is copied.
        stub: the milestone ids whose regions become ``NotImplementedError``;
            ``None`` stubs all of them (the candidate's starter).
    """
    titles = {m.id: m.title for m in lab.milestones}
    return variant_sources(
        lab,
        lambda _rid, r: (
            stub_lines(r, lab.id, titles)
            if stub is None or r.milestone in stub
            else None
        ),
    )


def write_files(files: dict[Path, str | bytes], dest: Path) -> Path:
    """Write ``files`` under ``dest`` (which must not exist yet), atomically."""
    if dest.exists():
        raise FileExistsError(f"{dest} already exists; refusing to overwrite it.")
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, content in files.items():
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    tmp.rename(dest)
    return dest


def write_starter(lab: Lab, dest: Path, stub: Collection[str] | None = None) -> Path:
    """Write the starter to ``dest`` (which must not exist yet) and return it."""
    # Build it all first: a bad marker writes nothing.
    return write_files(starter_sources(lab, stub), dest)

"""Build a lab's starter: the reference package with solution regions stubbed.

The starter is never committed; it is generated from the reference whenever a
candidate starts a lab, and by ``labkit verify`` with one milestone stubbed at
a time.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Collection
from pathlib import Path

from common.kit.manifest import Lab
from common.kit.regions import RegionError, parse_regions, stub_source


def starter_sources(
    lab: Lab, stub: Collection[str] | None = None
) -> dict[Path, str | bytes]:
    """Every file of the starter, relative path → content.

    Args:
        lab: the lab whose reference package is copied.
        stub: the milestone ids whose regions become ``NotImplementedError``;
            ``None`` stubs all of them (the candidate's starter).
    """
    titles = {m.id: m.title for m in lab.milestones}
    ids = set(titles)
    files: dict[Path, str | bytes] = {}
    for rel in lab.source_files():
        path = lab.package_dir / rel
        if rel.suffix != ".py":
            files[rel] = path.read_bytes()
            continue
        source = path.read_text()
        regions = parse_regions(source, path, ids)
        stubbed = stub_source(source, regions, lab.id, titles, stub)
        try:
            ast.parse(stubbed, filename=str(path))
        except SyntaxError as exc:
            raise RegionError(
                f"{path}: the starter does not parse after stubbing ({exc.msg} at "
                f"starter line {exc.lineno}); move the markers so a whole block is fenced."
            ) from exc
        files[rel] = stubbed
    return files


def write_starter(lab: Lab, dest: Path, stub: Collection[str] | None = None) -> Path:
    """Write the starter to ``dest`` (which must not exist yet) and return it."""
    files = starter_sources(
        lab, stub
    )  # build it all first: a bad marker writes nothing
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

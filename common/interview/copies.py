"""A drill's own copy of its lab: written from the reference, compared with it.

The copy is ``<workspace>/.drills/<slug>/<lab>/``: the reference lab with only
the drill's regions stubbed, by the starters' own stub generator
(``variant_sources`` with ``stub_lines``), so the drill copy and the starter
say the same TODO and raise the same ``NotImplementedError``. The candidate's
lab workspace, ``<workspace>/<lab>/``, is never read or written.

Starting the same drill again first moves the previous attempt to
``<workspace>/.drills/.attempts/<slug>-<UTC stamp>/``: nothing is lost.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime
from pathlib import Path

from common.interview.catalog import Drill
from common.kit.diff import FunctionDiff, diff_lab
from common.kit.manifest import Kit
from common.kit.regions import stub_lines
from common.kit.starter import variant_sources, write_files


def drills_root(kit: Kit) -> Path:
    return kit.workspace / ".drills"


def drill_sources(drill: Drill) -> dict[Path, str | bytes]:
    """Every file of the drill copy, relative path -> content."""
    titles = {m.id: m.title for m in drill.lab.milestones}
    wanted = set(drill.regions)
    return variant_sources(
        drill.lab,
        lambda rid, region: (
            stub_lines(region, drill.lab.id, titles) if rid in wanted else None
        ),
    )


def write_copy(kit: Kit, drill: Drill, now: datetime) -> tuple[Path, Path | None]:
    """Write the drill's copy of its lab; returns it and where an old attempt went."""
    files = drill_sources(drill)  # all built first: a malformed marker writes nothing
    home = drills_root(kit) / drill.slug
    backup = None
    if home.exists():
        stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
        backup = drills_root(kit) / ".attempts" / f"{drill.slug}-{stamp}"
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(home), str(backup))
    # <slug>/<lab>/: the lab folder keeps its name, and <slug> can stand in for
    # a workspace (see attempt_diffs).
    return write_files(files, home / drill.lab.id), backup


def attempt_diffs(kit: Kit, drill: Drill, folder: Path) -> list[FunctionDiff]:
    """Each function of the drill in the attempt at ``folder``, beside the reference's."""
    view = dataclasses.replace(kit, workspace=folder.parent)
    lab = drill.lab
    wanted = {
        (r.path.relative_to(lab.package_dir), r.function)
        for r in drill.region_objects.values()
    }
    return [
        d
        for d in diff_lab(view, lab, set(drill.milestones))
        if (d.file, d.function) in wanted
    ]

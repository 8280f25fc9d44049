"""The candidate's workspace: starting, resetting and backing up labs, and progress.

Nothing a candidate writes is ever lost: ``start`` refuses to overwrite an
existing copy, and ``reset`` / ``start --force`` move the old copy into
``<workspace>/.backups/<lab>-<timestamp>/`` before writing a fresh starter.
Progress (milestones passed, hints shown) lives in
``<workspace>/.labkit/progress.json``.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from common.kit.errors import KitError
from common.kit.manifest import Kit, Lab
from common.kit.starter import write_starter
from common.kit.state_file import Warn, set_aside, write_atomically


class WorkspaceError(KitError, RuntimeError):
    """The workspace is not in the state a command needs."""


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def start(kit: Kit, lab: Lab, *, force: bool = False) -> tuple[Path, Path | None]:
    """Write the lab's starter into the workspace.

    Returns:
        The lab's workspace folder and, when ``force`` replaced existing work,
        where that work was backed up.

    Raises:
        WorkspaceError: the lab is already started and ``force`` is not set.
    """
    dest = kit.workspace_lab(lab)
    backup = None
    if dest.exists():
        if not force:
            raise WorkspaceError(
                f"{dest} already holds your work on {lab.id}; nothing was changed. "
                f"Keep going with `labkit check {lab.id}`, or start over with "
                f"`labkit reset {lab.id}` (your current code is backed up first)."
            )
        backup = backup_lab(kit, lab)
    kit.workspace.mkdir(parents=True, exist_ok=True)
    write_starter(lab, dest)
    return dest, backup


def reset(kit: Kit, lab: Lab) -> tuple[Path, Path | None]:
    """Back up the lab's workspace copy (if any) and write a fresh starter."""
    result = start(kit, lab, force=True)
    progress = Progress.load(kit)
    progress.labs.pop(lab.id, None)
    progress.save()
    return result


def backup_lab(kit: Kit, lab: Lab) -> Path:
    """Move the lab's workspace copy to a timestamped backup folder."""
    source = kit.workspace_lab(lab)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    target = kit.workspace / ".backups" / f"{lab.id}-{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))
    return target


def backups(kit: Kit, lab: Lab) -> list[Path]:
    """The lab's backups, oldest first (their names sort by time)."""
    folder = kit.workspace / ".backups"
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_dir() and p.name.startswith(f"{lab.id}-")
    )


def restore(kit: Kit, lab: Lab, backup: str | None = None) -> tuple[Path, Path | None]:
    """Put a backup back in the workspace; the current copy is backed up first.

    Args:
        backup: the backup's folder name (or path); the newest when ``None``.

    Returns:
        The restored backup's former path, and where the replaced copy went.

    Raises:
        WorkspaceError: there is no backup, or none by that name.
    """
    found = backups(kit, lab)
    if not found:
        raise WorkspaceError(
            f"there is no backup of {lab.id} in {kit.workspace / '.backups'}; "
            "`labkit reset` and `start --force` make one."
        )
    chosen: Path | None = found[-1]
    if backup is not None:
        chosen = next((p for p in found if p.name == Path(backup).name), None)
        if chosen is None:
            names = ", ".join(p.name for p in found)
            raise WorkspaceError(
                f"no backup {backup!r} of {lab.id}; there are: {names}."
            )
    assert chosen is not None
    dest = kit.workspace_lab(lab)
    replaced = backup_lab(kit, lab) if dest.exists() else None
    shutil.move(str(chosen), str(dest))  # a rename: the backup is never half moved
    return chosen, replaced


def require_started(kit: Kit, lab: Lab) -> Path:
    folder = kit.workspace_lab(lab)
    if not (folder / "__init__.py").exists():
        raise WorkspaceError(
            f"lab {lab.id!r} is not started in {kit.workspace}; run "
            f"`labkit start {lab.id}` first."
        )
    return folder


@dataclass
class Progress:
    """Per-lab milestone status and hint counters, saved in the workspace."""

    path: Path
    labs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, kit: Kit, warn: Warn | None = None) -> Progress:
        """The saved progress; an unreadable file is set aside, never lost."""
        path = kit.workspace / ".labkit" / "progress.json"
        try:
            labs = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(labs, dict):
                raise ValueError(f"the top level is a {type(labs).__name__}")
        except FileNotFoundError:
            labs = {}
        except ValueError as exc:  # not JSON, not UTF-8, or the wrong shape
            set_aside(path, str(exc), warn or _to_stderr, "lab progress")
            labs = {}
        return cls(path, labs)

    def save(self) -> None:
        write_atomically(self.path, json.dumps(self.labs, indent=2, sort_keys=True))

    def _lab(self, lab_id: str) -> dict[str, Any]:
        return self.labs.setdefault(lab_id, {"milestones": {}, "hints": {}})

    def record(self, lab_id: str, statuses: dict[str, str]) -> None:
        entry = self._lab(lab_id)
        entry["milestones"].update(statuses)
        entry["checked_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def status(self, lab_id: str, milestone_id: str) -> str | None:
        return self.labs.get(lab_id, {}).get("milestones", {}).get(milestone_id)

    def passed(self, lab_id: str) -> set[str]:
        milestones = self.labs.get(lab_id, {}).get("milestones", {})
        return {mid for mid, status in milestones.items() if status == "passed"}

    def next_hint(self, lab_id: str, milestone_id: str) -> int:
        """Advance and return the 0-based index of the next hint to show."""
        hints = self._lab(lab_id)["hints"]
        index = hints.get(milestone_id, 0)
        hints[milestone_id] = index + 1
        return index

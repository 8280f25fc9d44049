"""Lab manifests (``labs/<lab>/lab.toml``) and the kit that holds them.

A manifest names the lab, orders it in the pipeline and lists its milestones::

    id = "feature_store"
    title = "Feature store"
    order = 1
    summary = "Offline store, point-in-time joins, materialisation, online reads."
    run = "labs.feature_store.run:run"        # optional: `labkit run`
    bench = "labs.feature_store.bench:bench"  # optional: `labkit bench`
    demo = { preset = "small" }               # optional: keywords `run` gets in `labkit demo`
    area = "systems"                          # systems, nn, ml, stats or dsa (drills' --area)

    [drills]                                  # optional: a drill's target minutes, by region id
    minutes = { "attention:attention_weights" = 10 }   # (others are estimated from size)

    [[milestones]]
    id = "m1"
    title = "Offline store"
    tests = ["tests/feature_store/test_m1_offline_store.py"]
    minutes = 30                              # estimated time; shown by `labkit list`
    hints = ["First hint.", "A more direct hint.", "Nearly the answer."]

Test paths are relative to the kit's root (the repository).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from common.kit.errors import KitError
from common.kit.regions import Region, name_regions, parse_regions
from common.paths import REPO_ROOT, workspace_dir

AREAS = ("systems", "nn", "ml", "stats", "dsa")


class ManifestError(KitError, ValueError):
    """A lab.toml is missing a field or names something that does not exist."""


@dataclass(frozen=True)
class Milestone:
    id: str
    title: str
    tests: tuple[str, ...]
    hints: tuple[str, ...]
    minutes: int | None = None  # the time a prepared candidate takes, estimated


@dataclass(frozen=True)
class Lab:
    id: str
    title: str
    order: int
    summary: str
    package_dir: Path  # the reference code: labs/<lab>/
    module: str  # the import name: labs.<lab>
    milestones: tuple[Milestone, ...]
    run: str | None = None
    bench: str | None = None
    timeout: int = 60  # per-test seconds while checking candidate code
    # the interview area its drills practise: systems, nn, ml, stats or dsa
    area: str = "systems"
    # keywords `labkit demo` passes to `run` (e.g. a smaller preset)
    demo: dict[str, Any] = field(default_factory=dict, hash=False)
    # target minutes of a drill by region id (`[drills] minutes`); the rest estimated
    drill_minutes: dict[str, int] = field(default_factory=dict, hash=False)

    def milestone(self, milestone_id: str) -> Milestone:
        for milestone in self.milestones:
            if milestone.id == milestone_id:
                return milestone
        valid = ", ".join(m.id for m in self.milestones)
        raise ManifestError(
            f"lab {self.id!r} has no milestone {milestone_id!r}; valid: {valid}."
        )

    def source_files(self) -> list[Path]:
        """Every file of the reference package, relative to ``package_dir``."""
        return sorted(
            path.relative_to(self.package_dir)
            for path in self.package_dir.rglob("*")
            if path.is_file()
            and "__pycache__" not in path.parts
            and path.name != "lab.toml"
            and path.suffix not in {".pyc", ".pyo"}
        )

    def regions(self) -> list[Region]:
        """Every solution region in the lab's Python files, in file order."""
        ids = {m.id for m in self.milestones}
        found: list[Region] = []
        for rel in self.source_files():
            if rel.suffix == ".py":
                path = self.package_dir / rel
                found.extend(parse_regions(path.read_text(), path, ids))
        return found

    def named_regions(self) -> dict[str, Region]:
        """Every region by its id, ``<module>:<function>`` (see ``name_regions``)."""
        ids = {m.id for m in self.milestones}
        named: dict[str, Region] = {}
        for rel in self.source_files():
            if rel.suffix == ".py":
                path = self.package_dir / rel
                regions = parse_regions(path.read_text(), path, ids)
                named.update(name_regions(module_name(rel), regions))
        return named

    def entry_point(self, kind: str) -> Callable[..., Any]:
        """Import the ``run`` or ``bench`` function the manifest names."""
        target = getattr(self, kind)
        if not target:
            raise ManifestError(
                f"lab {self.id!r} has no `{kind}` step in its lab.toml."
            )
        module_name, _, attr = target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


def module_name(rel: Path) -> str:
    """A lab file's module name inside the lab: ``nn/layers.py`` -> ``nn.layers``."""
    return ".".join(rel.with_suffix("").parts)


def _load_lab(path: Path, package: str) -> Lab:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not valid TOML: {exc}") from exc
    try:
        milestones = tuple(
            Milestone(
                id=m["id"],
                title=m["title"],
                tests=tuple(m["tests"]),
                hints=tuple(m.get("hints", ())),
                minutes=int(m["minutes"]) if "minutes" in m else None,
            )
            for m in data["milestones"]
        )
        lab = Lab(
            id=data["id"],
            title=data["title"],
            order=int(data["order"]),
            summary=data["summary"],
            package_dir=path.parent,
            module=f"{package}.{data['id']}",
            milestones=milestones,
            run=data.get("run"),
            bench=data.get("bench"),
            timeout=int(data.get("timeout", 60)),
            area=str(data.get("area", "systems")),
            demo=dict(data.get("demo", {})),
            drill_minutes=_drill_minutes(path, data.get("drills", {})),
        )
    except KeyError as exc:
        raise ManifestError(f"{path}: missing required field {exc.args[0]!r}.") from exc
    if lab.id != path.parent.name:
        raise ManifestError(
            f"{path}: id {lab.id!r} must equal the folder name {path.parent.name!r}."
        )
    if lab.area not in AREAS:
        raise ManifestError(
            f"{path}: area {lab.area!r} must be one of {', '.join(AREAS)}."
        )
    expected = [f"m{i}" for i in range(1, len(milestones) + 1)]
    if [m.id for m in milestones] != expected:
        raise ManifestError(
            f"{path}: milestones must be numbered {expected} in order, "
            f"got {[m.id for m in milestones]}."
        )
    return lab


def _drill_minutes(path: Path, drills: Any) -> dict[str, int]:
    minutes = drills.get("minutes", {}) if isinstance(drills, dict) else None
    if not isinstance(minutes, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0
        for v in minutes.values()
    ):
        raise ManifestError(
            f"{path}: [drills] minutes must map region ids to whole minutes, e.g. "
            '{ "attention:attention_weights" = 10 }.'
        )
    return dict(minutes)


@dataclass(frozen=True)
class Kit:
    """The labs of one repository, where their tests live, and the workspace.

    The real kit is ``Kit()``; harness tests build one around a fixture lab.
    """

    root: Path = REPO_ROOT
    package: str = "labs"  # the import package holding one sub-package per lab
    workspace: Path = field(default_factory=workspace_dir)

    @property
    def labs_dir(self) -> Path:
        return self.root / self.package

    @cached_property
    def labs(self) -> tuple[Lab, ...]:
        manifests = sorted(self.labs_dir.glob("*/lab.toml"))
        return tuple(
            sorted(
                (_load_lab(p, self.package) for p in manifests),
                key=lambda lab: lab.order,
            )
        )

    def lab(self, lab_id: str) -> Lab:
        for lab in self.labs:
            if lab.id == lab_id:
                return lab
        valid = ", ".join(lab.id for lab in self.labs) or "(none yet)"
        raise ManifestError(f"there is no lab {lab_id!r}; valid labs: {valid}.")

    def test_paths(self, milestone: Milestone) -> list[Path]:
        paths = [self.root / test for test in milestone.tests]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise ManifestError(
                f"milestone {milestone.id} lists missing test files: {missing}"
            )
        return paths

    def workspace_lab(self, lab: Lab) -> Path:
        return self.workspace / lab.id


def default_kit(workspace: str | os.PathLike[str] | None = None) -> Kit:
    """The repository's kit, with the workspace from the CLI flag or environment."""
    if workspace is None:
        return Kit()
    return Kit(workspace=Path(workspace).expanduser().resolve())

"""Every drill of the kit, by id, with the tests that check it and its target time.

A drill is a piece of reference code a candidate rewrites against the clock:

- a **region** (``transformer/attention:attention_weights``): one solution
  region, named as ``Lab.named_regions()`` names it. Every region of every
  lab is one; they are the drills ``list`` and ``next`` offer;
- a **milestone** (``transformer/m1``, ``--milestone``): every region of it;
- a **module** (``transformer/attention``, ``--blank``): every region of one
  file, checked by the tests of each milestone with a region there.

Target minutes: a region's come from its lab's ``lab.toml``
(``[drills] minutes = { "attention:attention_weights" = 10 }``), else from
its size: **3 minutes to read the task plus one minute per line of reference
code** (blank and comment-only lines not counted), clamped to 3..45. A
milestone or module drill's target is the sum of its regions'.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cached_property

from common.kit.errors import KitError
from common.kit.manifest import AREAS, Kit, Lab
from common.kit.regions import Region

REGION, MILESTONE, MODULE = "region", "milestone", "module"
MIN_MINUTES, MAX_MINUTES = 3, 45
_MILESTONE_ID = re.compile(r"^m\d+$")


class DrillError(KitError, ValueError):
    """A drill id or option names nothing; the message lists what exists."""


@dataclass(frozen=True)
class Drill:
    id: str
    kind: str  # region | milestone | module
    lab: Lab
    regions: tuple[str, ...]  # region ids, file order
    milestones: tuple[str, ...]  # the milestones whose tests check it, lab order
    minutes: int  # the target time

    @property
    def slug(self) -> str:
        """The drill's folder name under ``<workspace>/.drills/``."""
        return re.sub(r"[^A-Za-z0-9_]+", "-", self.id).strip("-")

    @cached_property
    def region_objects(self) -> dict[str, Region]:
        named = self.lab.named_regions()
        return {rid: named[rid] for rid in self.regions}


def estimate_minutes(region: Region) -> int:
    """3 minutes plus one per line of reference code, clamped to 3..45."""
    lines = region.path.read_text().splitlines()[region.begin : region.end - 1]
    code = [line for line in lines if line.strip() and not line.strip().startswith("#")]
    return max(MIN_MINUTES, min(MAX_MINUTES, 3 + len(code)))


def region_minutes(lab: Lab, region_id: str, region: Region) -> int:
    return lab.drill_minutes.get(region_id) or estimate_minutes(region)


def _check_minutes_names(lab: Lab, named: dict[str, Region]) -> None:
    unknown = sorted(set(lab.drill_minutes) - set(named))
    if unknown:
        raise DrillError(
            f"{lab.package_dir / 'lab.toml'}: [drills] minutes names {unknown}, which "
            f"{'is not a region' if len(unknown) == 1 else 'are not regions'} of "
            f"{lab.id}; region ids look like {next(iter(named), 'module:function')!r} "
            f"(`labkit drill list {lab.id}`)."
        )


def _make(
    lab: Lab, named: dict[str, Region], drill_id: str, kind: str, region_ids: list[str]
) -> Drill:
    wanted = {named[rid].milestone for rid in region_ids}
    return Drill(
        id=drill_id,
        kind=kind,
        lab=lab,
        regions=tuple(region_ids),
        milestones=tuple(m.id for m in lab.milestones if m.id in wanted),
        minutes=sum(region_minutes(lab, rid, named[rid]) for rid in region_ids),
    )


def lab_drills(lab: Lab) -> list[Drill]:
    """One drill per region of ``lab``, in milestone order, then file order."""
    named = lab.named_regions()
    _check_minutes_names(lab, named)
    rank = {m.id: index for index, m in enumerate(lab.milestones)}
    in_order = sorted(named, key=lambda rid: rank[named[rid].milestone])  # stable
    return [_make(lab, named, f"{lab.id}/{rid}", REGION, [rid]) for rid in in_order]


def check_area(area: str | None) -> None:
    if area is not None and area not in AREAS:
        raise DrillError(f"there is no area {area!r}; valid: {', '.join(AREAS)}.")


def all_drills(
    kit: Kit, lab_id: str | None = None, area: str | None = None
) -> list[Drill]:
    """Every region drill, lab order then file order, for one lab and/or area."""
    check_area(area)
    labs = [kit.lab(lab_id)] if lab_id else list(kit.labs)
    return [
        drill
        for lab in labs
        if area is None or lab.area == area
        for drill in lab_drills(lab)
    ]


def find_drill(kit: Kit, drill_id: str, kind: str | None = None) -> Drill:
    """The drill named ``drill_id``; ``kind`` (from ``--milestone``/``--blank``) must match.

    Without ``kind`` the form decides: ``lab/module:function`` is a region,
    ``lab/mN`` a milestone, ``lab/module`` a module.
    """
    lab_id, slash, rest = drill_id.partition("/")
    if not slash or not rest:
        raise DrillError(
            f"{drill_id!r} is not a drill id; write <lab>/<module>:<function> (e.g. "
            "transformer/attention:attention_weights), <lab>/<mN> with --milestone, "
            "or <lab>/<module> with --blank. `labkit drill list` shows them all."
        )
    lab = kit.lab(lab_id)
    found = (
        REGION if ":" in rest else MILESTONE if _MILESTONE_ID.match(rest) else MODULE
    )
    if kind is not None and kind != found:
        flag = {MILESTONE: "--milestone", MODULE: "--blank", REGION: "no flag"}[kind]
        raise DrillError(
            f"{drill_id!r} names a {found}, but {flag} asks for a {kind}: write "
            f"{lab.id}/mN for --milestone, {lab.id}/<module> for --blank, or "
            f"{lab.id}/<module>:<function> for one region."
        )
    named = lab.named_regions()
    _check_minutes_names(lab, named)
    if found == REGION:
        if rest not in named:
            raise _unknown(drill_id, [f"{lab.id}/{rid}" for rid in named], lab)
        return _make(lab, named, drill_id, REGION, [rest])
    if found == MILESTONE:
        milestone = lab.milestone(rest)
        ids = [rid for rid, r in named.items() if r.milestone == milestone.id]
        return _make(lab, named, drill_id, MILESTONE, ids)
    ids = [rid for rid in named if rid.partition(":")[0] == rest]
    if not ids:
        modules = sorted({f"{lab.id}/{rid.partition(':')[0]}" for rid in named})
        raise _unknown(drill_id, modules, lab, what="module with a region")
    return _make(lab, named, drill_id, MODULE, ids)


def _unknown(
    drill_id: str, valid: list[str], lab: Lab, what: str = "region"
) -> DrillError:
    close = difflib.get_close_matches(drill_id, valid, n=3, cutoff=0.5)
    suggestion = f" Did you mean {', '.join(close)}?" if close else ""
    return DrillError(
        f"{lab.id} has no {what} {drill_id!r}.{suggestion} "
        f"`labkit drill list {lab.id}` shows every drill."
    )

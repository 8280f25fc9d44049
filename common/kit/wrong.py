"""Known wrong answers: the plausible mistakes a milestone's tests must catch.

A stub that raises ``NotImplementedError`` proves little: any test fails on it.
The real question is whether a candidate who writes a *wrong* solution under
time pressure is told so. Each lab keeps a catalogue of such solutions, one
TOML file per milestone, ``tests/<lab>/wrong/<mN>.toml``::

    [[wrong]]
    id = "ttl-from-query-time"
    mistake = "Counts the TTL back from now instead of from each row's timestamp, so old rows look fresh."
    region = "pit_join:as_of_lookup"        # <module>:<function>, as drills name it
    caught_by = ["test_ttl_counts_back_from_each_entity_row"]   # optional
    body = '''
    ...the whole region, written as the mistaken candidate would...
    '''

    [[wrong.also]]                          # optional: more regions of the same answer
    region = "pit_join:build_index"
    body = '''...'''

``labkit verify`` writes the reference lab with those regions replaced and
requires at least one of the milestone's tests to fail (``caught_by`` names
the tests that must catch it, which also makes the check fast). After a
candidate passes a milestone, ``labkit hint LAB mN --mistakes`` shows the
catalogue as "mistakes candidates make".
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from common.kit.errors import KitError
from common.kit.manifest import Kit, Lab, Milestone
from common.kit.regions import Region, indent_body
from common.kit.starter import variant_sources, write_files

_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class CatalogueError(KitError):
    """A wrong-answer catalogue is malformed; the message names the file and entry."""


@dataclass(frozen=True)
class WrongAnswer:
    """One known wrong answer to a milestone."""

    lab: str
    milestone: str
    id: str
    mistake: str  # one line: the mistake and why it is wrong
    bodies: tuple[tuple[str, str], ...]  # (region id, replacement body)
    caught_by: tuple[str, ...]
    source: Path  # the catalogue file

    @property
    def name(self) -> str:
        return f"{self.milestone}/{self.id}"


def catalogue_path(kit: Kit, lab: Lab, milestone: Milestone) -> Path:
    return kit.root / "tests" / lab.id / "wrong" / f"{milestone.id}.toml"


def _normalised(text: str) -> str:
    return "".join(text.split())


def load_catalogue(kit: Kit, lab: Lab) -> list[WrongAnswer]:
    """Every known wrong answer of ``lab``, checked against its regions.

    Raises:
        CatalogueError: a file is not valid TOML, an entry lacks a field, names
            a region that does not exist or belongs to another milestone, or
            its body is the reference's own code.
    """
    regions = lab.named_regions()
    answers: list[WrongAnswer] = []
    for milestone in lab.milestones:
        path = catalogue_path(kit, lab, milestone)
        if not path.exists():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise CatalogueError(f"{path}: not valid TOML: {exc}") from exc
        seen: set[str] = set()
        for number, entry in enumerate(data.get("wrong", []), start=1):
            answer = _entry(path, number, entry, lab, milestone, regions)
            if answer.id in seen:
                raise CatalogueError(f"{path}: id {answer.id!r} is used twice.")
            seen.add(answer.id)
            answers.append(answer)
    return answers


def _entry(
    path: Path,
    number: int,
    entry: dict[str, Any],
    lab: Lab,
    milestone: Milestone,
    regions: dict[str, Region],
) -> WrongAnswer:
    where = f"{path}, entry {number}"
    try:
        answer_id = str(entry["id"])
        mistake = str(entry["mistake"]).strip()
        parts = [entry, *entry.get("also", [])]
        bodies = tuple((str(p["region"]), str(p["body"])) for p in parts)
    except KeyError as exc:
        raise CatalogueError(
            f"{where}: missing field {exc.args[0]!r} (each entry needs id, mistake, "
            "region and body)."
        ) from exc
    if not _ID.match(answer_id):
        raise CatalogueError(
            f"{where}: id {answer_id!r} must be lower-case words joined by hyphens."
        )
    if not mistake or "\n" in mistake:
        raise CatalogueError(
            f"{where} ({answer_id}): `mistake` must be one line saying the mistake "
            "and why it is wrong."
        )
    for region_id, body in bodies:
        region = regions.get(region_id)
        if region is None:
            close = [r for r in regions if r.split(":")[-1] == region_id.split(":")[-1]]
            raise CatalogueError(
                f"{where} ({answer_id}): no region {region_id!r} in lab {lab.id}"
                + (f"; did you mean {close[0]!r}?" if close else ".")
            )
        if region.milestone != milestone.id:
            raise CatalogueError(
                f"{where} ({answer_id}): region {region_id!r} belongs to "
                f"{region.milestone}, not {milestone.id}; move the entry to "
                f"{region.milestone}.toml."
            )
        reference = "".join(
            region.path.read_text().splitlines(keepends=True)[
                region.begin : region.end - 1
            ]
        )
        if _normalised(reference) == _normalised(body):
            raise CatalogueError(
                f"{where} ({answer_id}): the body of {region_id!r} is the reference's "
                "own code; a wrong answer must differ from it."
            )
        try:
            ast.parse("def _():\n" + "".join(indent_body(body, "    ")) + "    pass\n")
        except SyntaxError as exc:
            raise CatalogueError(
                f"{where} ({answer_id}): the body of {region_id!r} does not parse: "
                f"{exc.msg} (body line {(exc.lineno or 1) - 1})."
            ) from exc
    caught_by = entry.get("caught_by", [])
    if not isinstance(caught_by, list):
        raise CatalogueError(f"{where} ({answer_id}): caught_by must be a list.")
    return WrongAnswer(
        lab.id,
        milestone.id,
        answer_id,
        mistake,
        bodies,
        tuple(str(t) for t in caught_by),
        path,
    )


def _replacement(answer: WrongAnswer) -> Callable[[str, Region], list[str] | None]:
    bodies = dict(answer.bodies)

    def replace(region_id: str, region: Region) -> list[str] | None:
        body = bodies.get(region_id)
        return None if body is None else indent_body(body, region.indent)

    return replace


def write_wrong_answer(lab: Lab, answer: WrongAnswer, dest: Path) -> Path:
    """Write the reference lab with ``answer``'s regions replaced, at ``dest``."""
    return write_files(variant_sources(lab, _replacement(answer)), dest)


def selected_tests(kit: Kit, lab: Lab, answer: WrongAnswer) -> list[str]:
    """The pytest node ids to run for ``answer``: its ``caught_by`` tests, else all.

    Raises:
        CatalogueError: a ``caught_by`` test is not in the milestone's test files.
    """
    files = kit.test_paths(lab.milestone(answer.milestone))
    if not answer.caught_by:
        return [str(f) for f in files]
    nodes = []
    for test in answer.caught_by:
        pattern = re.compile(rf"^\s*(async\s+)?def {re.escape(test)}\(", re.MULTILINE)
        owner = next((f for f in files if pattern.search(f.read_text())), None)
        if owner is None:
            raise CatalogueError(
                f"{answer.source} ({answer.id}): caught_by names {test!r}, which is "
                f"not a test in {', '.join(f.name for f in files)}."
            )
        nodes.append(f"{owner}::{test}")
    return nodes

"""Design-round scenarios: ``common/interview/scenarios.toml``, loaded and checked.

    scenario = load_scenarios()["ranking-service"]
    scenario.steps[1].id, scenario.steps[1].minutes, scenario.labs

A scenario is data: a title, a brief, the labs whose banks it draws from, and
the five steps of a design round in order (``bank.STEPS``), each with the
minutes an interviewer gives it and what it should settle.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from common.interview.bank import ID
from common.interview.question import STEPS
from common.kit.errors import KitError

SCENARIOS_PATH = Path(__file__).with_name("scenarios.toml")
TITLES = {"back-of-the-envelope": "Back-of-the-envelope", "deep-dive": "Deep dive"}


class ScenarioError(KitError, ValueError):
    """The scenarios file has a missing or inconsistent field."""


@dataclass(frozen=True)
class Step:
    id: str  # one of bank.STEPS
    minutes: int  # suggested time
    guide: str  # what the step should settle

    @property
    def title(self) -> str:
        return TITLES.get(self.id, self.id.capitalize())


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    brief: str
    labs: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def minutes(self) -> int:
        return sum(step.minutes for step in self.steps)


def load_scenarios(path: Path | None = None) -> dict[str, Scenario]:
    """Every scenario by id, checked (see the module doc).

    Raises:
        ScenarioError: naming the file and the scenario.
    """
    path = path or SCENARIOS_PATH
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read as TOML: {exc}.") from None
    entries = data.get("scenario")
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(f"{path}: no [[scenario]] tables.")
    found: dict[str, Scenario] = {}
    for number, entry in enumerate(entries, start=1):
        scenario = _scenario(entry, f"{path}: scenario #{number}")
        if scenario.id in found:
            raise ScenarioError(f"{path}: scenario {scenario.id!r} is defined twice.")
        found[scenario.id] = scenario
    return found


def _scenario(entry: Any, where: str) -> Scenario:
    if not isinstance(entry, dict):
        raise ScenarioError(f"{where}: must be a table.")
    sid = entry.get("id")
    if not isinstance(sid, str) or not ID.match(sid):
        raise ScenarioError(
            f"{where}: id {sid!r} must be lower-case words and hyphens."
        )
    where = where.rsplit(": ", 1)[0] + f": scenario {sid!r}"
    for key in ("title", "brief"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ScenarioError(f"{where}: {key} must be a non-empty string.")
    labs = entry.get("labs")
    if (
        not isinstance(labs, list)
        or not labs
        or not all(isinstance(x, str) for x in labs)
    ):
        raise ScenarioError(f"{where}: labs must list the labs whose banks it uses.")
    steps = entry.get("step")
    if not isinstance(steps, list) or [
        s.get("id") if isinstance(s, dict) else None for s in steps
    ] != list(STEPS):
        raise ScenarioError(
            f"{where}: give one [[scenario.step]] per step, in this order: "
            f"{', '.join(STEPS)}."
        )
    parsed = []
    for step in steps:
        minutes, guide = step.get("minutes"), step.get("guide")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise ScenarioError(
                f"{where}: step {step['id']!r} needs minutes, a whole number ≥ 1."
            )
        if not isinstance(guide, str) or not guide.strip():
            raise ScenarioError(f"{where}: step {step['id']!r} needs a guide.")
        parsed.append(Step(step["id"], minutes, guide))
    return Scenario(sid, entry["title"], entry["brief"], tuple(labs), tuple(parsed))

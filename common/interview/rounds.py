"""Assemble a round: the questions to ask, in order, and what could not be asked.

    plan = design_round(kit, "ranking-service")   # bank questions, the candidate's figures
    plan = generated_round(kit, "stats", seed=7)  # generated problems + concept checks

A design round takes every bank question of the scenario's labs that names
the scenario, ordered by step, then by the scenario's lab order, then by file
order. A question whose figures are missing is not asked: the plan keeps it
with the :class:`~common.interview.figures.MissingFigure` that says which
``labkit run`` writes the figure. A stats or ml round is the generated
problems of its seed, plus up to ``CONCEPTS`` of the lab's questions that need
no figures, chosen by the same seed.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from common.interview.bank import bank_path, load_bank
from common.interview.figures import Figures, MissingFigure
from common.interview.formula import FormulaError
from common.interview.posing import Posed, pose, read_figures
from common.interview.question import STEPS, Question
from common.interview.scenarios import Scenario, Step, load_scenarios
from common.kit.errors import KitError
from common.kit.manifest import Kit

CONCEPTS = 3  # bank questions without figures added to a stats or ml round
GENERATED_LAB = {"stats": "experiments", "ml": "classical_ml"}
MINUTES_PER_PROBLEM = 3


@dataclass
class NotAsked:
    """A question left out of the round, and why."""

    id: str
    reason: str
    missing: list[MissingFigure] = field(default_factory=list)


@dataclass
class RoundPlan:
    kind: str  # "design", "stats" or "ml"
    title: str
    questions: list[Posed]
    steps: tuple[Step, ...]
    brief: str = ""
    scenario: str | None = None
    seed: int | None = None
    not_asked: list[NotAsked] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The round's name in file names: ``design-ranking-service``, ``stats``."""
        return f"{self.kind}-{self.scenario}" if self.scenario else self.kind

    def questions_for(self, step: Step) -> list[Posed]:
        """A design step's questions; a generated round's one step holds them all."""
        if self.kind != "design":
            return list(self.questions)
        return [q for q in self.questions if q.step == step.id]

    def missing_runs(self) -> dict[str, list[str]]:
        """``labkit run`` lab → the figures it would write that the round lacks."""
        runs: dict[str, list[str]] = {}
        for skipped in self.not_asked:
            for gap in skipped.missing:
                names = runs.setdefault(gap.lab, [])
                if gap.reference not in names:
                    names.append(gap.reference)
        return runs


def scenario(scenario_id: str, path: Path | None = None) -> Scenario:
    scenarios = load_scenarios(path)
    if scenario_id not in scenarios:
        raise KitError(
            f"there is no design scenario {scenario_id!r}; choose one of "
            f"{', '.join(scenarios)}."
        )
    return scenarios[scenario_id]


def lab_bank(kit: Kit, lab_id: str, scenario_ids: set[str]) -> list[Question]:
    """The lab's bank (checked against the known scenarios); [] without a file."""
    return load_bank(bank_path(kit.lab(lab_id).package_dir), lab_id, scenario_ids)


def design_round(
    kit: Kit,
    scenario_id: str,
    figures: Figures | None = None,
    scenarios_path: Path | None = None,
) -> RoundPlan:
    """The design round of ``scenario_id`` on the candidate's figures.

    Raises:
        KitError: an unknown scenario or lab, a broken bank, or no question yet.
    """
    figures = figures or Figures()
    chosen = scenario(scenario_id, scenarios_path)
    known = set(load_scenarios(scenarios_path))
    questions = [
        question
        for lab_id in chosen.labs
        for question in lab_bank(kit, lab_id, known)
        if chosen.id in question.scenarios
    ]
    if not questions:
        raise KitError(
            f"no bank question names the scenario {chosen.id!r} yet: add some to "
            + ", ".join(f"labs/{lab}/interview.toml" for lab in chosen.labs)
            + "."
        )
    order = {lab: i for i, lab in enumerate(chosen.labs)}
    questions.sort(key=lambda q: (STEPS.index(q.step or STEPS[0]), order[q.lab]))
    plan = RoundPlan(
        "design", chosen.title, [], chosen.steps, chosen.brief, scenario=chosen.id
    )
    for question in questions:
        values, missing = read_figures(question, figures)
        if missing:
            reason = "; ".join(str(gap) for gap in missing)
            plan.not_asked.append(NotAsked(question.qualified_id, reason, missing))
            continue
        try:
            plan.questions.append(pose(question, values))
        except FormulaError as exc:  # e.g. a figure of 0 that the formula divides by
            plan.not_asked.append(
                NotAsked(question.qualified_id, f"cannot be computed: {exc}")
            )
    return plan


def generated_round(kit: Kit, kind: str, seed: int | None = None) -> RoundPlan:
    """A stats or ml round: seeded problems, then a few of the lab's concept checks."""
    from common.interview import ml_problems, stats_problems

    if kind not in GENERATED_LAB:
        raise KitError(f"a generated round is stats or ml, not {kind!r}.")
    seed = secrets.randbelow(10**6) if seed is None else seed
    make = stats_problems.generate if kind == "stats" else ml_problems.generate
    posed = make(seed)
    lab_id = GENERATED_LAB[kind]
    concepts = [
        q
        for q in lab_bank(kit, lab_id, set(load_scenarios()))
        if not q.figures and q.kind != "open"
    ]
    picked = random.Random(seed).sample(concepts, min(CONCEPTS, len(concepts)))
    posed += [pose(q, {}) for q in sorted(picked, key=concepts.index)]
    title = {
        "stats": "Statistics and A/B testing",
        "ml": "Classical machine learning",
    }[kind]
    minutes = MINUTES_PER_PROBLEM * len(posed)
    step = Step(
        "problems", minutes, f"Answer each problem; about {minutes} minutes in all."
    )
    return RoundPlan(kind, title, posed, (step,), seed=seed)

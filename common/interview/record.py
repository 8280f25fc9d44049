"""A round on record: ``results/interview/<UTC stamp>-<round>.md`` and ``.json``.

    paths = write_record(outcome)            # the page and its JSON, after grading
    summary(outcome, reveal=False)           # what ``--json`` prints

The files keep the whole round: each question, the answer given, the grade,
the expected answer with its computation, and the questions not asked with
the ``labkit run`` that would let them be. ``--json`` prints the same object,
with the expected answers and workings only when ``--reveal`` asks for them.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from common.interview.posing import Posed, letter, plain_number
from common.interview.rounds import RoundPlan
from common.interview.session import Outcome, feedback
from common.paths import results_dir

FORMAT = 1


def not_asked(plan: RoundPlan) -> list[dict[str, Any]]:
    return [
        {
            "id": skipped.id,
            "reason": skipped.reason,
            "runs": sorted({f"labkit run {gap.lab}" for gap in skipped.missing}),
        }
        for skipped in plan.not_asked
    ]


def plan_summary(plan: RoundPlan, reveal: bool) -> dict[str, Any]:
    """The round's questions (``--json`` without answers), answers only with ``reveal``."""
    return {
        "format": FORMAT,
        "round": plan.kind,
        "scenario": plan.scenario,
        "title": plan.title,
        "seed": plan.seed,
        "steps": [
            {"id": s.id, "minutes": s.minutes, "guide": s.guide} for s in plan.steps
        ],
        "questions": [posed.public(reveal) for posed in plan.questions],
        "not_asked": not_asked(plan),
    }


def summary(outcome: Outcome, reveal: bool) -> dict[str, Any]:
    """The graded round as one JSON object (see the module doc)."""
    shown = plan_summary(outcome.plan, reveal)
    shown |= {
        "mode": outcome.mode,
        "started": outcome.started.isoformat(timespec="seconds"),
        "seconds": round(outcome.seconds, 1),
        "step_seconds": {k: round(v, 1) for k, v in outcome.step_seconds.items()},
        "ended_early": outcome.ended_early,
        "unknown_answers": outcome.unknown,
        "score": {
            "points": round(outcome.points, 3),
            "max": len(outcome.answered),
            "percent": round(outcome.percent, 1),
        },
    }
    by_id = {a.posed.id: a for a in outcome.answered}
    for question in shown["questions"]:
        answered = by_id[question["id"]]
        question["grade"] = answered.grade.as_dict()
        if answered.text:
            question["text"] = answered.text
    return shown


def score_line(outcome: Outcome) -> str:
    counts: dict[str, int] = {}
    for answered in outcome.answered:
        counts[answered.grade.status] = counts.get(answered.grade.status, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    return (
        f"Score: {outcome.points:.1f} / {len(outcome.answered)} "
        f"({outcome.percent:.0f}%): {parts}."
    )


def markdown(outcome: Outcome) -> str:
    """The round's page: score, then each step's questions with their feedback."""
    plan = outcome.plan
    stamp = outcome.started.strftime("%Y-%m-%d %H:%M UTC")
    seed = f", seed {plan.seed}" if plan.seed is not None else ""
    lines = [
        f"# Interview round: {plan.title}",
        "",
        f"_{plan.name}, {stamp}, {outcome.mode}{seed}; "
        f"{outcome.seconds / 60:.1f} min._",
        "",
        f"**{score_line(outcome)}**",
    ]
    if plan.brief:
        lines += ["", plan.brief]
    by_id = {a.posed.id: a for a in outcome.answered}
    total, number = len(plan.questions), 0
    for step in plan.steps:
        spent = outcome.step_seconds.get(step.id)
        took = f", took {spent / 60:.1f}" if spent is not None else ""
        lines += ["", f"## {step.title} (suggested {step.minutes} min{took})", ""]
        lines += [f"_{step.guide}_"]
        for posed in plan.questions_for(step):
            number += 1
            answered = by_id[posed.id]
            lines += ["", *_question_md(posed, number, total), ""]
            given = answered.grade.given
            if isinstance(given, float):
                given = plain_number(given)
            if answered.text:
                lines += [
                    "Your answer:",
                    "",
                    *[f"> {t}" for t in answered.text.splitlines()],
                    "",
                ]
            elif given is not None:
                lines += [f"Your answer: `{given}`", ""]
            lines += [f"    {line}" for line in feedback(answered)]
    if plan.not_asked:
        lines += ["", "## Not asked", ""]
        for entry in not_asked(plan):
            runs = " or ".join(f"`{run}`" for run in entry["runs"])
            lines.append(
                f"- {entry['id']}: {entry['reason']}" + (f" ({runs})" if runs else "")
            )
    if outcome.unknown:
        lines += [
            "",
            f"Answers to no question of this round: {', '.join(outcome.unknown)}.",
        ]
    return "\n".join(lines) + "\n"


def _question_md(posed: Posed, number: int, total: int) -> list[str]:
    lines = [f"### Q{number}/{total} [{posed.kind}] {posed.id}", "", posed.prompt]
    if posed.options:
        lines += ["", *(f"- {letter(i)}) {o}" for i, o in enumerate(posed.options))]
    if posed.kind == "numeric" and posed.tolerance is not None:
        unit = f"in {posed.unit}, " if posed.unit else ""
        lines += ["", f"_({unit}graded {posed.tolerance.describe()})_"]
    return lines


def write_record(outcome: Outcome, root: Path | None = None) -> tuple[Path, Path]:
    """Write the page and the JSON; return their paths (never overwrites a round)."""
    folder = (root or results_dir()) / "interview"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base, n = f"{stamp}-{outcome.plan.name}", 1
    while (folder / f"{base}.md").exists() or (folder / f"{base}.json").exists():
        n += 1
        base = f"{stamp}-{outcome.plan.name}-{n}"
    page, data = folder / f"{base}.md", folder / f"{base}.json"
    data.write_text(
        json.dumps(summary(outcome, reveal=True), indent=2, ensure_ascii=False) + "\n"
    )
    page.write_text(markdown(outcome))
    return page, data

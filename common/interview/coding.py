"""The coding round: two due drills under one clock, then a written summary.

``start_coding_round`` picks the two drills due first (``drills.next_drill``,
optionally in one area), writes both copies and starts one clock for both
(``round`` in the progress file). ``labkit drill check`` checks every drill of
the round still open; ``labkit drill hint ID`` and ``give-up ID`` name one.
When both have passed or been given up, or at ``labkit interview end``, the
round ends: a drill still open counts as unfinished (a fail for the schedule),
and the summary (time per drill, hints, checks, pass or fail, over the target
or not, the round over time or not) is written to
``results/interview/<UTC stamp>-coding.md`` and ``.json`` and printed.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown

from common.interview import schedule
from common.interview.catalog import DrillError, check_area
from common.interview.copies import write_copy
from common.interview.drills import (
    OPEN,
    elapsed_s,
    finish,
    new_session,
    next_drill,
    utc_now,
)
from common.interview.state import load_state, update_state
from common.interview.task import show_task
from common.kit.manifest import Kit
from common.paths import results_dir

DRILLS_PER_ROUND = 2


def start_coding_round(
    kit: Kit, minutes: int, area: str | None, console: Console
) -> None:
    """Start a round of the two drills due first, and print both tasks.

    Raises:
        DrillError: a round is already in progress, ``minutes`` is not
            positive, or fewer than two drills match ``area``.
    """
    if minutes <= 0:
        raise DrillError(
            f"--minutes must be a positive number of minutes, got {minutes}."
        )
    check_area(area)
    now = utc_now()
    _refuse_second_round(load_state(kit).round)
    drills = next_drill(kit, None, area, now=now)[:DRILLS_PER_ROUND]
    if len(drills) < DRILLS_PER_ROUND:
        raise DrillError(
            f"a coding round needs {DRILLS_PER_ROUND} drills; only {len(drills)} match."
        )
    folders = [write_copy(kit, drill, now)[0] for drill in drills]
    with update_state(kit) as state:
        _refuse_second_round(state.round)
        left = (
            state.current if state.current and state.current["status"] == OPEN else None
        )
        state.current = None
        state.round = {
            "kind": "coding",
            "started_at": now.isoformat(),
            "minutes": minutes,
            "area": area,
            "drills": [
                new_session(d, f, now) for d, f in zip(drills, folders, strict=True)
            ],
        }
    if left:
        console.print(f"[dim]Left drill {left['id']} unfinished (not recorded).[/dim]")
    total = sum(d.minutes for d in drills)
    console.print(
        f"[bold]Coding round[/bold]: {len(drills)} drills, {minutes} min on one clock "
        f"(their targets add up to {total} min). The clock started at "
        f"{now:%H:%M} UTC; `labkit drill status` shows it, `labkit interview end` ends it."
    )
    for drill, folder in zip(drills, folders, strict=True):
        show_task(drill, folder, console, in_round=True)


def _refuse_second_round(current_round: dict[str, Any] | None) -> None:
    if current_round is not None:
        raise DrillError(
            f"a coding round started at {current_round['started_at']} is in progress; "
            "finish its drills (`labkit drill check`) or end it: `labkit interview end`."
        )


def round_done(kit: Kit) -> bool:
    """Whether a round is in progress and every drill of it has passed or been given up."""
    current = load_state(kit).round
    return current is not None and all(d["status"] != OPEN for d in current["drills"])


def end_round(kit: Kit, console: Console) -> Path | None:
    """End the round: record open drills as unfinished, write and print the summary.

    Returns:
        The Markdown summary's path (the caller says where it went; the
        ``.json`` sits beside it), or ``None`` when no round was in progress.
    """
    with update_state(kit) as state:
        current = state.round
        if current is None:
            console.print(
                "No round is in progress; `labkit interview coding` starts one."
            )
            return None
        now = utc_now()
        for session in current["drills"]:
            if session["status"] == OPEN:
                finish(state, session, schedule.UNFINISHED, now)
        summary = summarize(current, state.drills, now)
        # Written before the state is saved: if writing fails, the round stays open.
        path = write_summary(summary, now)
        state.round = None
    console.print(Markdown(to_markdown(summary)))
    return path


def summarize(
    current: dict[str, Any], records: dict[str, dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """The round's figures, as written to the ``.json`` summary."""
    elapsed = elapsed_s(current, now)
    drills = []
    for session in current["drills"]:
        seconds = session["seconds"]
        card = records.get(session["id"], {}).get("card")
        due = schedule.due_at(card)
        drills.append(
            {
                "id": session["id"],
                "result": session["status"],
                "seconds": round(seconds, 1),
                "target_minutes": session["minutes"],
                "over_target": seconds > session["minutes"] * 60,
                "hints": session["hints"],
                "checks": session["checks"],
                "next_due": due.isoformat() if due else None,
            }
        )
    return {
        "round": "coding",
        "started_at": current["started_at"],
        "ended_at": now.isoformat(),
        "minutes": current["minutes"],
        "area": current.get("area"),
        "elapsed_s": round(elapsed, 1),
        "over_time": elapsed > current["minutes"] * 60,
        "passed": sum(d["result"] == schedule.PASSED for d in drills),
        "drills": drills,
    }


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def to_markdown(summary: dict[str, Any]) -> str:
    used = _minutes(summary["elapsed_s"])
    verdict = "over time" if summary["over_time"] else "inside the time"
    lines = [
        f"# Coding round, {summary['started_at'][:16].replace('T', ' ')} UTC",
        "",
        f"{summary['passed']} of {len(summary['drills'])} drills passed. "
        f"Budget {summary['minutes']} min, used {used} ({verdict}). "
        f"Area: {summary['area'] or 'any'}.",
        "",
        "| drill | result | time | target | hints | checks | next due |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in summary["drills"]:
        over = " (over)" if d["over_target"] else ""
        due = (d["next_due"] or "—")[:10]
        lines.append(
            f"| `{d['id']}` | {d['result']} | {_minutes(d['seconds'])}{over} | "
            f"{d['target_minutes']} min | {d['hints']} | {d['checks']} | {due} |"
        )
    return "\n".join(lines) + "\n"


def write_summary(summary: dict[str, Any], now: datetime) -> Path:
    """Write ``<stamp>-coding.md`` and ``.json`` under ``results/interview/``."""
    folder = results_dir() / "interview"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}-coding.md"
    number = 1
    while path.exists():
        number += 1
        path = folder / f"{stamp}-{number}-coding.md"
    path.write_text(to_markdown(summary))
    path.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    return path

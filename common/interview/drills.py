"""Drills: a piece of reference code rewritten against the clock, in its own copy.

``start`` writes the drill's copy of its lab (``copies``: never the
candidate's lab workspace) and starts the clock.

A **session** is one attempt, kept in the progress file (``state``): the drill
in progress (``current``), or each drill of a round (``round["drills"]``)::

    {"id": ..., "folder": ..., "started_at": ISO UTC, "minutes": target,
     "hints": 0, "checks": 0, "status": "open" | "passed" | "gave-up" | "unfinished",
     "seconds": time to pass or to give up}

``check`` runs the tests of the drill's milestones against the copy; a pass
finishes the session. ``give_up`` finishes it as a fail. Finishing updates
the drill's record (attempts, passes, best time, hints, history) and its
spaced-repetition card (``schedule``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fsrs import Rating

from common.interview import schedule
from common.interview.catalog import Drill, DrillError, all_drills, find_drill
from common.interview.copies import write_copy
from common.interview.state import InterviewState, load_state, update_state
from common.kit.check import MilestoneResult, check_args, split_by_milestone
from common.kit.manifest import Kit
from common.kit.runner import RunResult, TestOutcome, run_pytest

OPEN = "open"
Session = dict[str, Any]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_session(drill: Drill, folder: Path, now: datetime) -> Session:
    return {
        "id": drill.id,
        "folder": str(folder),
        "started_at": now.isoformat(),
        "minutes": drill.minutes,
        "hints": 0,
        "checks": 0,
        "status": OPEN,
        "seconds": None,
    }


def elapsed_s(session: Session, now: datetime) -> float:
    return (now - datetime.fromisoformat(session["started_at"])).total_seconds()


def all_sessions(state: InterviewState) -> list[Session]:
    if state.round is not None:
        return list(state.round.get("drills", []))
    return [state.current] if state.current is not None else []


def open_sessions(state: InterviewState) -> list[Session]:
    return [s for s in all_sessions(state) if s.get("status") == OPEN]


def choose(sessions: list[Session], drill_id: str | None, verb: str) -> Session:
    """The open session ``drill_id`` names, or the only one."""
    if not sessions:
        raise DrillError(
            "no drill is in progress; start one with `labkit drill next` or "
            "`labkit drill start ID` (`labkit drill list` shows them)."
        )
    ids = [s["id"] for s in sessions]
    if drill_id is None:
        if len(sessions) == 1:
            return sessions[0]
        raise DrillError(
            f"{len(sessions)} drills are open ({', '.join(ids)}); say which: "
            f"`labkit drill {verb} ID`."
        )
    for session in sessions:
        if session["id"] == drill_id:
            return session
    raise DrillError(f"{drill_id!r} is not an open drill; open: {', '.join(ids)}.")


def _live(state: InterviewState, session: Session) -> Session | None:
    """The same attempt in a freshly loaded state (it may have ended meanwhile)."""
    for candidate in all_sessions(state):
        if (candidate["id"], candidate["started_at"]) == (
            session["id"],
            session["started_at"],
        ):
            return candidate
    return None


def finish(
    state: InterviewState, session: Session, outcome: str, now: datetime
) -> Rating:
    """End ``session`` with ``outcome``; update the drill's record and its card."""
    seconds = elapsed_s(session, now)
    session.update(status=outcome, seconds=seconds, ended_at=now.isoformat())
    rating = schedule.rating_for(outcome, seconds, session["minutes"], session["hints"])
    record = state.drills.setdefault(
        session["id"],
        {"attempts": 0, "passes": 0, "best_seconds": None, "hints": 0, "history": []},
    )
    record["attempts"] += 1
    record["hints"] += session["hints"]
    if outcome == schedule.PASSED:
        record["passes"] += 1
        best = record.get("best_seconds")
        record["best_seconds"] = seconds if best is None else min(best, seconds)
    record["card"] = schedule.review(record.get("card"), rating, now)
    record["history"].append(
        {
            "ended_at": now.isoformat(),
            "outcome": outcome,
            "seconds": round(seconds, 1),
            "minutes": session["minutes"],
            "hints": session["hints"],
            "checks": session["checks"],
            "rating": rating.name,
        }
    )
    return rating


def start(
    kit: Kit, drill: Drill, now: datetime | None = None
) -> tuple[Session, Path | None, Session | None]:
    """Write the drill's copy and start its clock.

    Returns:
        The new session, where a previous attempt's copy went, and the drill
        that was in progress and is now left unfinished (not recorded).
    """
    now = now or utc_now()
    if load_state(kit).round is not None:
        raise DrillError(
            "a coding round is in progress; finish its drills (`labkit drill check`, "
            "`labkit drill give-up ID`) or end it with `labkit interview end` first."
        )
    folder, backup = write_copy(kit, drill, now)
    with update_state(kit) as state:
        left = (
            state.current if state.current and state.current["status"] == OPEN else None
        )
        state.current = new_session(drill, folder, now)
        return state.current, backup, left


def next_drill(
    kit: Kit,
    lab_id: str | None,
    area: str | None,
    now: datetime | None = None,
) -> list[Drill]:
    """Region drills, the earliest due first (see ``schedule.by_due``)."""
    drills = {d.id: d for d in all_drills(kit, lab_id, area)}
    if not drills:
        raise DrillError("no drill matches; `labkit drill list` shows them all.")
    cards = {i: r.get("card") for i, r in load_state(kit).drills.items()}
    return [drills[i] for i in schedule.by_due(list(drills), cards, now or utc_now())]


@dataclass(frozen=True)
class DrillCheck:
    drill: Drill
    session: Session  # as recorded after the check
    results: list[MilestoneResult]
    run: RunResult
    rating: Rating | None  # set when this check passed and finished the drill

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.status == "passed" for r in self.results)


def check(
    kit: Kit,
    drill_id: str | None = None,
    *,
    verbose: bool = False,
    on_progress: Callable[
        [Drill], Callable[[list[TestOutcome], int | None], None] | None
    ]
    | None = None,
) -> list[DrillCheck]:
    """Check every open drill (or the one named): its milestones' tests on its copy."""
    # Time to pass is taken when the candidate asks, not after the tests ran.
    now = utc_now()
    sessions = open_sessions(load_state(kit))
    if drill_id is not None or not sessions:
        sessions = [choose(sessions, drill_id, "check")]
    checks = []
    for session in sessions:
        drill = find_drill(kit, session["id"])
        folder = Path(session["folder"])
        if not (folder / "__init__.py").exists():
            raise DrillError(
                f"the copy of drill {drill.id} at {folder} is gone; "
                f"`labkit drill start {drill.id}` writes a fresh one (the clock restarts)."
            )
        milestones = [drill.lab.milestone(m) for m in drill.milestones]
        run = run_pytest(
            [path for m in milestones for path in kit.test_paths(m)],
            root=kit.root,
            overlay={drill.lab.module: folder},
            timeout=drill.lab.timeout,
            extra_args=check_args(verbose),
            on_progress=on_progress(drill) if on_progress else None,
        )
        result = DrillCheck(
            drill, session, split_by_milestone(kit, milestones, run), run, None
        )
        with update_state(kit) as state:
            live = _live(state, session)  # a hint may have been recorded meanwhile
            if live is not None and live["status"] == OPEN:
                live["checks"] += 1
                rating = (
                    finish(state, live, schedule.PASSED, now) if result.passed else None
                )
                result = dataclasses.replace(result, session=dict(live), rating=rating)
        checks.append(result)
    return checks


def take_hint(
    kit: Kit, drill_id: str | None = None
) -> tuple[Session, str | None, int, int]:
    """Open the drill's next hint and record it: (session, hint, its number, how many)."""
    with update_state(kit) as state:
        session = choose(open_sessions(state), drill_id, "hint")
        drill = find_drill(kit, session["id"])
        hints = [h for m in drill.milestones for h in drill.lab.milestone(m).hints]
        if not hints:
            return session, None, 0, 0
        index = min(session["hints"], len(hints) - 1)
        session["hints"] = max(session["hints"], index + 1)
        return dict(session), hints[index], index + 1, len(hints)


def give_up(kit: Kit, drill_id: str | None = None) -> tuple[Drill, Session]:
    """Record a fail for the open drill; its copy stays for the comparison."""
    with update_state(kit) as state:
        session = choose(open_sessions(state), drill_id, "give-up")
        finish(state, session, schedule.GAVE_UP, utc_now())
        return find_drill(kit, session["id"]), dict(session)

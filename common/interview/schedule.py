"""When a drill is due again: FSRS, the Free Spaced Repetition Scheduler.

The rule is FSRS-6 as implemented by the maintained ``fsrs`` package
(open-spaced-repetition/py-fsrs), with its published default parameters; the
tests reproduce the package's published examples. FSRS models each drill's
memory by a stability (the days until recall drops to 90%) and a difficulty,
and schedules the next review when the predicted recall falls to the desired
retention (90%).

Two choices adapt it to drills, both settings the package documents:

- no learning steps: FSRS's defaults ask again after 1 and 10 minutes, which
  suits flashcards, not a 20-minute drill. Without them every outcome
  schedules whole days ahead;
- no fuzzing: the same history gives the same due date, so ``drill list``
  and the tests can say exactly when a drill comes back.

An outcome becomes a rating:

=====================================================  =======
pass inside half the target time, no hint              Easy
pass inside the target time, no hint                   Good
pass over the target time, or with a hint              Hard
gave up, or a round ended before it passed             Again
=====================================================  =======

A drill never seen is due now. ``drill next`` takes the earliest due, so the
most overdue comes first and never-seen drills follow in catalogue order
(lab order, then milestone order, then file order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from fsrs import Card, Rating, Scheduler

SCHEDULER = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)

PASSED = "passed"
GAVE_UP = "gave-up"
UNFINISHED = "unfinished"  # a round ended before the drill passed


def rating_for(
    outcome: str, seconds: float, target_minutes: float, hints: int
) -> Rating:
    """The FSRS rating of one attempt (the table in the module docstring)."""
    if outcome != PASSED:
        return Rating.Again
    target_s = target_minutes * 60
    if hints or seconds > target_s:
        return Rating.Hard
    return Rating.Easy if seconds < target_s / 2 else Rating.Good


def review(
    card: Mapping[str, Any] | None, rating: Rating, when: datetime
) -> dict[str, Any]:
    """The drill's card after an attempt rated ``rating`` at ``when`` (UTC).

    Args:
        card: the card as saved (``Card.to_dict()``), or ``None`` for a first attempt.
    """
    current = Card.from_dict(dict(card)) if card else Card(card_id=0)  # type: ignore[arg-type]
    reviewed, _ = SCHEDULER.review_card(current, rating, when.astimezone(timezone.utc))
    return dict(reviewed.to_dict())


def due_at(card: Mapping[str, Any] | None) -> datetime | None:
    """When the drill is due; ``None`` for a drill never attempted (due now)."""
    if not card:
        return None
    return datetime.fromisoformat(str(card["due"]))


def by_due(
    drill_ids: Sequence[str],
    cards: Mapping[str, Mapping[str, Any] | None],
    now: datetime,
) -> list[str]:
    """``drill_ids`` earliest due first; ties (and never-seen drills) keep their order."""
    order = {drill_id: index for index, drill_id in enumerate(drill_ids)}

    def key(drill_id: str) -> tuple[datetime, int]:
        return due_at(cards.get(drill_id)) or now, order[drill_id]

    return sorted(drill_ids, key=key)


def describe_due(card: Mapping[str, Any] | None, now: datetime) -> str:
    """``now`` / ``overdue 3 d`` / ``in 5 d`` / ``in 4 h``, for tables."""
    due = due_at(card)
    if due is None:
        return "now (new)"
    seconds = (due - now).total_seconds()
    if abs(seconds) < 3600:
        return "now"
    hours = abs(seconds) / 3600
    # A drill due "tomorrow" is a few seconds short of 24 h by the time it is shown.
    span = f"{hours / 24:.0f} d" if hours >= 22 else f"{hours:.0f} h"
    return f"in {span}" if seconds > 0 else f"overdue {span}"

"""The drills' schedule: FSRS through the ``fsrs`` package, and how outcomes map to it."""

from datetime import datetime, timedelta, timezone

import pytest
from fsrs import Card, Rating, Scheduler

from common.interview import schedule

T0 = datetime(2022, 11, 29, 12, 30, 0, 0, timezone.utc)


def test_the_package_reproduces_its_published_interval_history():
    """Published in py-fsrs's own tests (github.com/open-spaced-repetition/py-fsrs,
    ``tests/test_basic.py``, ``TestPyFSRS.test_review_card``, FSRS-6): Good x6,
    Again x2, Good x5 from a new card, each review on the day it is due, default
    parameters, no fuzzing."""
    scheduler = Scheduler(enable_fuzzing=False)
    ratings = [Rating.Good] * 6 + [Rating.Again] * 2 + [Rating.Good] * 5
    card, when, intervals = Card(), T0, []
    for rating in ratings:
        card, _ = scheduler.review_card(card, rating, when)
        intervals.append((card.due - card.last_review).days)
        when = card.due
    assert intervals == [0, 2, 11, 46, 163, 498, 0, 0, 2, 4, 7, 12, 21]


def test_the_package_reproduces_its_published_memory_state():
    """py-fsrs, tests/test_basic.py, ``TestPyFSRS.test_memo_state``: Again then
    Good x5 at 0, 0, 1, 3, 8, 21 days give stability 53.62691 and difficulty
    6.3574867."""
    scheduler = Scheduler()
    card, when = Card(), T0
    for rating, days in zip(
        [Rating.Again] + [Rating.Good] * 5, [0, 0, 1, 3, 8, 21], strict=True
    ):
        when += timedelta(days=days)
        card, _ = scheduler.review_card(card, rating, when)
    assert card.stability == pytest.approx(53.62691, abs=1e-4)
    assert card.difficulty == pytest.approx(6.3574867, abs=1e-4)


def test_drills_use_the_published_parameters_without_minute_steps():
    published = Scheduler()
    assert schedule.SCHEDULER.parameters == published.parameters
    assert schedule.SCHEDULER.desired_retention == published.desired_retention == 0.9
    assert schedule.SCHEDULER.learning_steps == ()
    assert schedule.SCHEDULER.relearning_steps == ()


@pytest.mark.parametrize(
    ("outcome", "seconds", "hints", "rating"),
    [
        (schedule.PASSED, 4 * 60, 0, Rating.Easy),  # under half of 10 min
        (schedule.PASSED, 5 * 60, 0, Rating.Good),  # half exactly is not under half
        (schedule.PASSED, 10 * 60, 0, Rating.Good),  # on the target
        (schedule.PASSED, 10 * 60 + 1, 0, Rating.Hard),  # over the target
        (schedule.PASSED, 60, 1, Rating.Hard),  # fast, but with a hint
        (schedule.GAVE_UP, 60, 0, Rating.Again),
        (schedule.UNFINISHED, 60, 0, Rating.Again),
    ],
)
def test_an_outcome_becomes_a_rating(outcome, seconds, hints, rating):
    assert schedule.rating_for(outcome, seconds, 10, hints) == rating


def _interval_days(history: list[Rating], last: Rating) -> float:
    card, when = None, T0
    for rating in history:
        card = schedule.review(card, rating, when)
        when = schedule.due_at(card)
    after = schedule.review(card, last, when)
    return (schedule.due_at(after) - when).total_seconds() / 86400


@pytest.mark.parametrize("history", [[], [Rating.Good], [Rating.Good] * 3])
def test_a_fast_pass_pushes_the_drill_out_and_a_hint_or_give_up_brings_it_back(
    history,
):
    easy, good, hard, again = (
        _interval_days(history, r)
        for r in (Rating.Easy, Rating.Good, Rating.Hard, Rating.Again)
    )
    assert easy > good > hard
    assert again < good and again >= 1  # whole days, never minutes
    assert again <= hard


def test_cards_survive_json_and_a_new_drill_is_due_now():
    import json

    card = schedule.review(None, Rating.Good, T0)
    assert json.loads(json.dumps(card)) == card
    assert schedule.due_at(card) == T0 + timedelta(days=2)
    assert schedule.due_at(None) is None


def test_the_most_overdue_comes_first_then_new_drills_in_catalogue_order():
    now = T0 + timedelta(days=100)
    due_in = {"a": 5, "b": -3, "c": None, "d": -10, "e": None, "f": 0}
    cards = {
        drill: None
        if days is None
        else {
            **schedule.review(None, Rating.Good, T0),
            "due": (now + timedelta(days=days)).isoformat(),
        }
        for drill, days in due_in.items()
    }
    assert schedule.by_due(list(due_in), cards, now) == ["d", "b", "c", "e", "f", "a"]

"""Grading: numbers inside the tolerance count, outside it do not; bad input is invalid."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.interview.grading import InvalidAnswer, grade, parse_number
from common.interview.posing import Posed
from common.interview.question import Tolerance


def numeric(expected: float, tolerance: Tolerance, unit: str = "") -> Posed:
    return Posed("q", "numeric", "How many?", "test", expected=expected,
                 tolerance=tolerance, unit=unit)  # fmt: skip


CHOICE = Posed(
    "c", "choice", "Pick", "test", expected=1, options=("red", "green", "blue")
)
SHORT = Posed(
    "s", "short", "Name it", "test", expected="coordinated omission", accept=("CO",)
)
OPEN = Posed(
    "o", "open", "Talk", "test", model_answer="...", rubric=("a", "b", "c", "d")
)

expected_values = st.floats(1e-6, 1e9) | st.floats(-1e9, -1e-6)
fractions = st.floats(0.001, 0.9)


@given(expected=expected_values, rel=fractions, inside=st.floats(0, 0.999))
def test_relative_tolerance_accepts_answers_inside(expected, rel, inside):
    answer = expected * (1 + rel * inside)
    assert grade(numeric(expected, Tolerance(relative=rel)), answer).status == "correct"
    answer = expected * (1 - rel * inside)
    assert grade(numeric(expected, Tolerance(relative=rel)), answer).points == 1.0


@given(expected=expected_values, rel=fractions, outside=st.floats(1.001, 100))
def test_relative_tolerance_refuses_answers_outside(expected, rel, outside):
    for answer in (expected * (1 + rel * outside), expected * (1 - rel * outside)):
        graded = grade(numeric(expected, Tolerance(relative=rel)), answer)
        assert graded.status == "wrong" and graded.points == 0.0


@given(
    expected=st.integers(-(10**6), 10**6),
    gap=st.floats(0, 10),
    step=st.floats(0.001, 10),
)
def test_absolute_tolerance_is_a_band_around_the_answer(expected, gap, step):
    posed = numeric(expected, Tolerance(absolute=gap))
    assert grade(posed, expected + gap).status == "correct"
    assert grade(posed, expected - gap).status == "correct"
    assert grade(posed, expected + gap + step).status == "wrong"
    assert grade(posed, expected - gap - step).status == "wrong"


def test_the_verdict_says_how_close_it_had_to_be():
    assert (
        grade(numeric(200, Tolerance(relative=0.05)), 209).detail
        == "209 is within 5% of 200"
    )
    assert (
        grade(numeric(200, Tolerance(absolute=2)), 203).detail
        == "203 is not within ± 2 of 200"
    )


def test_an_exact_answer_needs_the_exact_number():
    posed = numeric(27, Tolerance(absolute=0))
    assert grade(posed, 27).status == "correct"
    assert grade(posed, "27 replicas").status == "invalid"  # this question has no unit
    assert (
        grade(numeric(27, Tolerance(absolute=0), "replicas"), "27 replicas").points == 1
    )
    assert grade(posed, 28).status == "wrong"
    assert grade(posed, 54).status == "wrong"


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("1,234", 1234.0),
        (" 27 ", 27.0),
        ("5e-3", 0.005),
        ("-0.5", -0.5),
        (12, 12.0),
        (0.25, 0.25),
    ],
)
def test_numbers_are_read_from_text_and_toml(typed, value):
    assert parse_number(typed) == value


@pytest.mark.parametrize(
    "typed", ["abc", "twenty", "0,05", "", "1/3", True, [1], None, "nan", "inf"]
)
def test_non_numbers_are_invalid_never_wrong(typed):
    with pytest.raises(InvalidAnswer, match="not a number"):
        parse_number(typed)
    if typed is not None:
        graded = grade(numeric(27, Tolerance(relative=0.05)), typed)
        assert graded.status == "invalid" and graded.points == 0.0
        assert graded.detail.startswith("invalid: not a number")


def test_unanswered_scores_nothing():
    graded = grade(numeric(27, Tolerance(relative=0.05)), None)
    assert (graded.status, graded.points) == ("unanswered", 0.0)


@pytest.mark.parametrize(
    ("typed", "status"),
    [("b", "correct"), ("B)", "correct"), ("Green", "correct"), ("a", "wrong")],
)
def test_choice_by_letter_or_text(typed, status):
    assert grade(CHOICE, typed).status == status


@pytest.mark.parametrize("typed", ["d", "1", 1, "purple"])
def test_a_choice_that_is_no_option_is_invalid(typed):
    graded = grade(CHOICE, typed)
    assert graded.status == "invalid" and "not an option" in graded.detail


@pytest.mark.parametrize(
    ("typed", "status"),
    [
        ("Coordinated  Omission", "correct"),
        ("`coordinated omission`.", "correct"),
        ("co", "correct"),
        ("omission", "wrong"),
    ],
)
def test_short_answers_ignore_case_and_spaces(typed, status):
    assert grade(SHORT, typed).status == status


@pytest.mark.parametrize(
    ("ticks", "points", "status"),
    [
        ([1, 2, 3, 4], 1.0, "correct"),
        ([2, 4], 0.5, "partial"),
        ("1, 3", 0.5, "partial"),
        ("none", 0.0, "wrong"),
        ({"text": "...", "ticks": [1]}, 0.25, "partial"),
    ],
)
def test_open_answers_score_the_rubric_points_ticked(ticks, points, status):
    graded = grade(OPEN, ticks)
    assert (graded.points, graded.status) == (points, status)


@pytest.mark.parametrize("ticks", [[0], [5], "1, x", ["1"], 3])
def test_ticks_off_the_rubric_are_invalid(ticks):
    assert grade(OPEN, ticks).status == "invalid"

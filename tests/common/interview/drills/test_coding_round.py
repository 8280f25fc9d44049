"""The coding round: two due drills under one clock, then a summary in results/interview/."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console

from common.interview import coding, schedule
from common.interview.catalog import DrillError, find_drill
from common.interview.state import load_state, update_state


def _console() -> Console:
    return Console(record=True, width=200)


def _text(console: Console) -> str:
    return " ".join(console.export_text().split())


def _folder(kit, drill_id: str) -> Path:
    [session] = [s for s in load_state(kit).round["drills"] if s["id"] == drill_id]
    return Path(session["folder"])


def test_a_round_of_two_due_drills_checked_together_then_summarised(
    kit, labkit, paste_reference, tmp_path
):
    with update_state(kit) as state:  # add was seen and is not due for a while
        card = schedule.review(None, schedule.Rating.Easy, datetime.now(timezone.utc))
        state.drills["toy/arith:add"] = {"card": card}
    console = _console()
    coding.start_coding_round(kit, 30, None, console)
    shown = _text(console)
    assert "Coding round: 2 drills, 30 min on one clock" in shown
    assert "(their targets add up to 10 min)" in shown
    assert "labkit drill hint toy/arith:mean" in shown  # commands name the drill
    round_ = load_state(kit).round
    assert [s["id"] for s in round_["drills"]] == [
        "toy/arith:mean",
        "toy/arith:countdown",
    ]
    assert load_state(kit).current is None

    both = labkit("drill", "check")
    assert both.exit_code == 1
    assert (
        "drill toy/arith:mean" in both.text and "drill toy/arith:countdown" in both.text
    )
    assert "labkit drill hint toy/arith:mean" in both.text

    ambiguous = labkit("drill", "hint")
    assert (
        ambiguous.exit_code == 2
        and "say which: `labkit drill hint ID`" in ambiguous.text
    )
    assert "hint 1/1" in labkit("drill", "hint", "toy/arith:countdown").text
    paste_reference(find_drill(kit, "toy/arith:mean"), _folder(kit, "toy/arith:mean"))
    one = labkit("drill", "check")
    assert "Passed in" in one.text and one.exit_code == 1  # countdown still fails
    assert load_state(kit).round is not None

    blocked = labkit("drill", "start", "toy/arith:add")
    assert blocked.exit_code == 2 and "a coding round is in progress" in blocked.text
    with pytest.raises(DrillError, match="is in progress"):
        coding.start_coding_round(kit, 30, None, _console())

    ended = labkit("drill", "give-up", "toy/arith:countdown")  # the last open drill
    assert ended.exit_code == 0
    assert "1 of 2 drills passed. Budget 30 min" in ended.text
    assert "Wrote " in ended.text and "-coding.md" in ended.text
    assert load_state(kit).round is None

    [md] = (tmp_path / "results" / "interview").glob("*-coding.md")
    summary = json.loads(md.with_suffix(".json").read_text())
    assert summary["round"] == "coding" and summary["passed"] == 1
    assert summary["over_time"] is False and summary["minutes"] == 30
    mean, countdown = summary["drills"]
    assert (mean["id"], mean["result"], mean["hints"], mean["checks"]) == (
        "toy/arith:mean",
        "passed",
        0,
        2,
    )
    assert (countdown["result"], countdown["hints"]) == ("gave-up", 1)
    assert "| `toy/arith:countdown` | gave-up |" in md.read_text()
    records = load_state(kit).drills
    assert records["toy/arith:countdown"]["history"][-1]["rating"] == "Again"
    assert records["toy/arith:mean"]["passes"] == 1


def test_ending_a_round_records_open_drills_as_unfinished(kit, tmp_path):
    coding.start_coding_round(kit, 45, None, _console())
    with update_state(kit) as state:  # the candidate ran over
        started = (datetime.now(timezone.utc) - timedelta(minutes=50)).isoformat()
        state.round["started_at"] = started
        for session in state.round["drills"]:
            session["started_at"] = started
    console = _console()
    path = coding.end_round(kit, console)
    assert path is not None and path.parent == tmp_path / "results" / "interview"
    summary = json.loads(path.with_suffix(".json").read_text())
    assert summary["over_time"] is True and summary["passed"] == 0
    assert [d["result"] for d in summary["drills"]] == ["unfinished", "unfinished"]
    assert all(d["over_target"] for d in summary["drills"])
    shown = _text(console)
    assert "used 50 min" in shown and "(over time)" in shown
    assert all(
        load_state(kit).drills[d["id"]]["history"][-1]["rating"] == "Again"
        for d in summary["drills"]
    )
    assert coding.end_round(kit, _console()) is None  # nothing left to end


def test_a_round_leaves_an_open_drill_unfinished_and_checks_its_area(kit, labkit):
    labkit("drill", "start", "toy/arith:add")
    console = _console()
    coding.start_coding_round(kit, 45, "systems", console)
    assert "Left drill toy/arith:add unfinished" in _text(console)
    with pytest.raises(DrillError, match="no area 'bio'"):
        coding.start_coding_round(kit, 45, "bio", _console())
    with pytest.raises(DrillError, match="positive number of minutes"):
        coding.start_coding_round(kit, 0, None, _console())


def test_a_round_needs_two_drills_in_its_area(kit):
    toml = kit.labs_dir / "weak" / "lab.toml"
    toml.write_text('area = "dsa"\n' + toml.read_text())
    from common.kit.manifest import Kit

    fresh = Kit(root=kit.root, package=kit.package, workspace=kit.workspace)
    with pytest.raises(DrillError, match="needs 2 drills; only 1 match"):
        coding.start_coding_round(fresh, 45, "dsa", _console())
    assert load_state(fresh).round is None

"""The drill loop through the real `labkit drill` commands, on the fixture kit."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from common.interview import drills, schedule
from common.interview.catalog import DrillError, all_drills, find_drill
from common.interview.state import load_state, state_path, update_state
from common.kit.manifest import Kit, ManifestError


def _current_folder(kit) -> Path:
    return Path(load_state(kit).current["folder"])


def test_start_fail_paste_the_reference_pass_and_see_it_scheduled(
    kit, labkit, paste_reference
):
    started = labkit("drill", "start", "toy/arith:mean")
    assert started.exit_code == 0, started.output
    for shown in (
        "def mean(values):",
        "Return the arithmetic mean of a non-empty list.",
        "Write: divide the total by the count",
        "Target: 4 min",  # 3 + one line of reference code
        ".drills/toy-arith-mean/toy/arith.py",
        "labkit drill check",
    ):
        assert shown in started.text, shown
    assert "BEGIN SOLUTION" not in started.output

    failing = labkit("drill", "check")
    assert failing.exit_code == 1
    assert "✗ m2" in failing.text and "NotImplementedError: toy m2" in failing.text
    assert "labkit drill hint" in failing.text
    assert "✓ m1" not in failing.text  # only the drill's milestone is checked

    paste_reference(find_drill(kit, "toy/arith:mean"), _current_folder(kit))
    passing = labkit("drill", "check")
    assert passing.exit_code == 0, passing.output
    assert "✓ m2" in passing.text and "2 checks, 0 hints: rated Easy" in passing.text
    assert "Next due in 8 d" in passing.text  # FSRS's first Easy interval

    record = load_state(kit).drills["toy/arith:mean"]
    assert record["attempts"] == record["passes"] == 1
    assert record["best_seconds"] < 60 and record["history"][0]["checks"] == 2
    listing = labkit("drill", "list", "toy")
    assert (
        "toy/arith:mean 4 min 0 min" in listing.text and "1/1 0 in 8 d" in listing.text
    )
    assert "toy/arith:add 4 min — 0/0 0 now (new)" in listing.text

    again = labkit("drill", "check")
    assert again.exit_code == 2 and "no drill is in progress" in again.text


def test_a_slow_pass_is_hard_and_a_hint_makes_it_hard_too(kit, labkit, paste_reference):
    labkit("drill", "start", "toy/arith:add")
    with update_state(kit) as state:  # the candidate took 20 minutes
        started = datetime.now(timezone.utc) - timedelta(minutes=20)
        state.current["started_at"] = started.isoformat()
    paste_reference(find_drill(kit, "toy/arith:add"), _current_folder(kit))
    assert "rated Hard" in labkit("drill", "check").text

    labkit("drill", "start", "toy/arith:countdown")
    hint = labkit("drill", "hint")
    assert "hint 1/1 (recorded)" in hint.text and "A while loop" in hint.text
    paste_reference(find_drill(kit, "toy/arith:countdown"), _current_folder(kit))
    assert "1 hints: rated Hard" in labkit("drill", "check").text
    assert load_state(kit).drills["toy/arith:countdown"]["hints"] == 1


def test_hints_advance_one_per_call_and_stop_at_the_last(kit, labkit):
    labkit("drill", "start", "toy/arith:add")
    first, second, third = (labkit("drill", "hint") for _ in range(3))
    assert "hint 1/2" in first.text and "Use the + operator." in first.text
    assert "hint 2/2" in second.text and "return a + b" in second.text
    assert "hint 2/2" in third.text
    assert load_state(kit).current["hints"] == 2


def test_give_up_shows_the_reference_beside_the_attempt_and_records_a_fail(kit, labkit):
    labkit("drill", "start", "toy/arith:add")
    copy = _current_folder(kit) / "arith.py"
    copy.write_text(
        copy.read_text().replace(
            "raise NotImplementedError('toy m1: Add two numbers')", "return a - b"
        )
    )
    shown = labkit("drill", "give-up")
    assert shown.exit_code == 0, shown.output
    assert "-    return a - b" in shown.output and "+    return a + b" in shown.output
    assert "mean" not in shown.output  # only the drill's function is revealed
    assert "Recorded as a fail" in shown.text and "in 1 d" in shown.text
    record = load_state(kit).drills["toy/arith:add"]
    assert record["passes"] == 0 and record["history"][0]["rating"] == "Again"
    assert copy.exists()  # the attempt stays for the comparison


def test_drill_next_picks_the_most_overdue_drill(kit, labkit):
    now = datetime.now(timezone.utc)

    def due(days: float) -> dict:
        card = schedule.review(None, schedule.Rating.Good, now - timedelta(days=30))
        return {"card": {**card, "due": (now + timedelta(days=days)).isoformat()}}

    with update_state(kit) as state:
        state.drills["toy/arith:add"] = due(-1)
        state.drills["toy/arith:mean"] = due(-4)
        state.drills["toy/arith:countdown"] = due(+3)
    order = [d.id for d in drills.next_drill(kit, None, None)]
    assert order == [
        "toy/arith:mean",  # 4 days overdue
        "toy/arith:add",  # 1 day overdue
        "weak/double:double",  # never seen: due now
        "toy/arith:countdown",  # due in 3 days
    ]
    started = labkit("drill", "next")
    assert started.exit_code == 0 and "Due: overdue 4 d" in started.text
    assert load_state(kit).current["id"] == "toy/arith:mean"
    assert [d.id for d in drills.next_drill(kit, "toy", None)][:1] == ["toy/arith:mean"]


def test_new_drills_come_in_lab_then_file_order_and_area_filters(kit):
    toml = kit.labs_dir / "weak" / "lab.toml"
    toml.write_text('area = "dsa"\n' + toml.read_text())
    fresh = Kit(root=kit.root, package=kit.package, workspace=kit.workspace)
    assert drills.next_drill(fresh, None, None)[0].id == "toy/arith:add"
    assert [d.id for d in drills.next_drill(fresh, None, "dsa")] == [
        "weak/double:double"
    ]
    with pytest.raises(DrillError, match="no area 'bio'; valid: systems, nn"):
        drills.next_drill(fresh, None, "bio")


def test_target_minutes_come_from_lab_toml_or_the_size_of_the_region(kit):
    toml = kit.labs_dir / "toy" / "lab.toml"
    original = toml.read_text()
    toml.write_text(original + '\n[drills]\nminutes = { "arith:mean" = 12 }\n')
    fresh = Kit(root=kit.root, package=kit.package, workspace=kit.workspace)
    minutes = {d.id: d.minutes for d in all_drills(fresh, "toy")}
    # add: 1 line, countdown: 3 lines of reference code (3 min + 1 per line)
    assert minutes == {
        "toy/arith:add": 4,
        "toy/arith:mean": 12,
        "toy/arith:countdown": 6,
    }
    assert find_drill(fresh, "toy/arith", kind="module").minutes == 4 + 12 + 6

    toml.write_text(original + '\n[drills]\nminutes = { "arith:nope" = 12 }\n')
    fresh = Kit(root=kit.root, package=kit.package, workspace=kit.workspace)
    with pytest.raises(
        DrillError, match=r"names \['arith:nope'\], which is not a region"
    ):
        all_drills(fresh, "toy")
    toml.write_text(original + '\n[drills]\nminutes = { "arith:add" = "ten" }\n')
    fresh = Kit(root=kit.root, package=kit.package, workspace=kit.workspace)
    with pytest.raises(ManifestError, match="must map region ids to whole minutes"):
        fresh.lab("toy")


def test_every_real_drill_has_a_target_between_3_and_45_minutes():
    found = all_drills(Kit())
    assert len(found) > 150  # every region of every lab is a drill
    assert all(3 <= d.minutes <= 45 for d in found)
    assert len({d.id for d in found}) == len(found)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["toy"], "is not a drill id; write <lab>/<module>:<function>"),
        (
            ["toy/arith:ad"],
            "toy has no region 'toy/arith:ad'. Did you mean toy/arith:add",
        ),
        (["toy/arith:add", "--milestone"], "names a region, but --milestone asks"),
        (
            ["toy/m9", "--milestone"],
            "lab 'toy' has no milestone 'm9'; valid: m1, m2, m3",
        ),
        (["toy/nope", "--blank"], "toy has no module with a region 'toy/nope'"),
        (["nope/arith:add"], "there is no lab 'nope'"),
    ],
)
def test_a_wrong_drill_id_says_what_exists(labkit, args, message):
    result = labkit("drill", "start", *args)
    assert result.exit_code == 2 and message in result.text


def test_milestone_and_blank_drills_check_their_milestones(
    kit, labkit, paste_reference
):
    started = labkit("drill", "start", "--blank", "toy/arith")
    assert started.exit_code == 0 and "From the brief (m3)" in started.text
    failing = labkit("drill", "check")
    assert all(f"✗ {m}" in failing.text for m in ("m1", "m2", "m3"))
    paste_reference(find_drill(kit, "toy/arith"), _current_folder(kit))
    assert labkit("drill", "check").exit_code == 0
    assert "toy/arith 14 min" in labkit("drill", "list", "toy").text  # scheduled too

    labkit("drill", "start", "--milestone", "toy/m3")
    assert "✗ m3" in labkit("drill", "check").text


def test_a_corrupt_progress_file_is_reported_and_drills_go_on(kit, labkit, capsys):
    path = state_path(kit)
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "drills": {"toy/arith:add": ')
    result = labkit("drill", "list", "toy")
    assert result.exit_code == 0
    [backup] = path.parent.glob("interview.json.corrupt-*")
    warning = " ".join((capsys.readouterr().err + result.output).split())
    assert str(backup) in warning and "nothing is lost" in warning


def test_a_newer_progress_file_stops_every_drill_command_and_is_kept(kit, labkit):
    path = state_path(kit)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": 99, "drills": {}}))
    before = path.read_bytes()
    for args in (["list"], ["start", "toy/arith:add"], ["next"], ["status"]):
        result = labkit("drill", *args)
        assert result.exit_code == 2, args
        assert "format 99" in result.text and "left untouched" in result.text
    assert path.read_bytes() == before


def test_status_shows_the_clock(kit, labkit):
    assert "No drill in progress" in labkit("drill", "status").text
    labkit("drill", "start", "toy/arith:add")
    shown = labkit("drill", "status")
    assert "toy/arith:add: open, 0 min" in shown.text and "(target 4 min)" in shown.text


def test_a_record_of_a_drill_the_labs_no_longer_have_is_kept_not_fatal(kit, labkit):
    with update_state(kit) as state:
        state.drills["toy/arith:renamed"] = {"attempts": 1}
    listing = labkit("drill", "list")
    assert listing.exit_code == 0
    assert "No longer in the labs (records kept): toy/arith:renamed" in listing.text
    assert "toy/arith:renamed" in load_state(kit).drills

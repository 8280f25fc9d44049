"""A drill copy is the reference with exactly its regions stubbed, in its own folder."""

import difflib
import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from common.interview.catalog import all_drills, find_drill
from common.interview.copies import drill_sources, write_copy
from common.interview.state import load_state
from common.kit.manifest import Kit
from common.kit.starter import starter_sources

NOW = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)


def _changes(drill) -> list[tuple[Path, list[str], list[str]]]:
    """(file, reference lines removed, lines put in) for every change of the copy."""
    reference = starter_sources(drill.lab, stub=())  # every region kept, no markers
    copy = drill_sources(drill)
    assert reference.keys() == copy.keys()
    changes = []
    for rel, text in reference.items():
        if text == copy[rel]:
            continue
        old = str(text).splitlines()
        new = str(copy[rel]).splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
            None, old, new, autojunk=False
        ).get_opcodes():
            if tag != "equal":
                changes.append((rel, old[i1:i2], new[j1:j2]))
    return changes


def _check_exactly_its_region(drill) -> None:
    [region] = drill.region_objects.values()
    [(rel, removed, added)] = _changes(drill)
    assert rel == region.path.relative_to(drill.lab.package_dir)
    # What left is the region's body as the reference file has it, markers excluded.
    body = region.path.read_text().splitlines()[region.begin : region.end - 1]
    assert removed == body
    assert len(added) == 2
    assert added[0].strip().startswith(f"# TODO({region.milestone}):")
    stub = added[1].strip()
    assert stub.startswith("raise NotImplementedError(")
    assert f"{drill.lab.id} {region.milestone}:" in stub


def test_each_fixture_drill_differs_from_the_reference_in_exactly_its_region(kit):
    found = all_drills(kit)
    assert [d.id for d in found] == [
        "toy/arith:add",
        "toy/arith:mean",
        "toy/arith:countdown",
        "weak/double:double",
    ]
    for drill in found:
        _check_exactly_its_region(drill)


@pytest.mark.parametrize("lab_id", ["transformer", "dsa_for_ml"])
def test_each_drill_of_a_real_lab_differs_in_exactly_its_region(lab_id):
    found = all_drills(Kit(), lab_id)
    assert len(found) == len(Kit().lab(lab_id).named_regions()) > 10
    for drill in found:
        _check_exactly_its_region(drill)


def test_a_milestone_drill_stubs_every_region_of_it_and_nothing_else(kit):
    drill = find_drill(kit, "toy/m2")
    assert drill.regions == ("arith:mean",) and drill.milestones == ("m2",)
    module = find_drill(kit, "toy/arith")
    assert module.regions == ("arith:add", "arith:mean", "arith:countdown")
    assert module.milestones == ("m1", "m2", "m3")
    assert len(_changes(module)) == 3


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_drill_never_touches_the_lab_workspace(kit, labkit, paste_reference):
    from common.kit import workspace

    lab_folder, _ = workspace.start(kit, kit.lab("toy"))
    (lab_folder / "arith.py").write_text("# my own work in progress\n")
    before = _snapshot(lab_folder)
    progress = kit.workspace / ".labkit" / "progress.json"
    assert not progress.exists()

    assert labkit("drill", "start", "toy/arith:add").exit_code == 0
    assert labkit("drill", "check").exit_code == 1
    assert labkit("drill", "hint").exit_code == 0
    assert labkit("drill", "give-up").exit_code == 0
    labkit("drill", "start", "toy/arith:mean")
    folder = Path(load_state(kit).current["folder"])
    paste_reference(find_drill(kit, "toy/arith:mean"), folder)
    assert labkit("drill", "check").exit_code == 0

    assert _snapshot(lab_folder) == before
    assert not progress.exists()  # the lab's own progress is not the drills'


def test_a_drill_of_an_unstarted_lab_creates_no_lab_folder(kit, labkit):
    labkit("drill", "start", "toy/arith:add")
    labkit("drill", "check")
    assert not (kit.workspace / "toy").exists()
    assert (kit.workspace / ".drills" / "toy-arith-add" / "toy" / "arith.py").exists()


def test_starting_a_drill_again_keeps_the_previous_attempt(kit):
    drill = find_drill(kit, "toy/arith:add")
    folder, backup = write_copy(kit, drill, NOW)
    assert backup is None
    (folder / "arith.py").write_text("# attempt one\n")
    again, backup = write_copy(kit, drill, NOW.replace(minute=5))
    assert again == folder and "TODO(m1)" in (folder / "arith.py").read_text()
    assert backup == kit.workspace / ".drills" / ".attempts" / (
        "toy-arith-add-20250106T090500000000Z"
    )
    assert (backup / "toy" / "arith.py").read_text() == "# attempt one\n"


@pytest.mark.slow
def test_a_real_drill_fails_on_its_copy_and_passes_with_the_reference_pasted_back(
    tmp_path, paste_reference
):
    from common.interview import drills

    kit = Kit(workspace=tmp_path / "workspace")
    drill = find_drill(kit, "transformer/attention:attention_weights")
    session, _, _ = drills.start(kit, drill)
    [failing] = drills.check(kit)
    assert not failing.passed and failing.rating is None
    first = failing.results[0].first_failure
    assert first is not None and "NotImplementedError" in str(first.failure)
    paste_reference(drill, Path(session["folder"]))
    [passing] = drills.check(kit)
    assert passing.passed and passing.rating is not None
    assert [r.milestone.id for r in passing.results] == ["m1"]
    assert not (kit.workspace / "transformer").exists()

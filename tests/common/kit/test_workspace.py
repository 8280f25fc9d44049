"""Starting, resetting and backing up labs: nothing a candidate writes is lost."""

import pytest

from common.kit import workspace
from common.kit.workspace import Progress, WorkspaceError


def test_start_writes_a_stubbed_copy(kit):
    lab = kit.lab("toy")
    folder, backup = workspace.start(kit, lab)
    assert backup is None
    code = (folder / "arith.py").read_text()
    assert "raise NotImplementedError('toy m1: Add two numbers')" in code
    assert "return a + b" not in code
    assert (folder / "README.md").exists() and not (folder / "lab.toml").exists()


def test_start_refuses_to_overwrite_work(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    (folder / "arith.py").write_text("# my work\n")
    with pytest.raises(WorkspaceError, match="already holds your work"):
        workspace.start(kit, lab)
    assert (folder / "arith.py").read_text() == "# my work\n"


def test_reset_and_force_back_up_first(kit):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    (folder / "arith.py").write_text("# attempt 1\n")
    _, backup1 = workspace.reset(kit, lab)
    (folder / "arith.py").write_text("# attempt 2\n")
    _, backup2 = workspace.start(kit, lab, force=True)
    assert (backup1 / "arith.py").read_text() == "# attempt 1\n"
    assert (backup2 / "arith.py").read_text() == "# attempt 2\n"
    assert backup1 != backup2
    assert "NotImplementedError" in (folder / "arith.py").read_text()


def test_progress_round_trip_and_hints(kit):
    progress = Progress.load(kit)
    progress.record("toy", {"m1": "passed", "m2": "failed"})
    assert [progress.next_hint("toy", "m2") for _ in range(3)] == [0, 1, 2]
    progress.save()
    again = Progress.load(kit)
    assert again.passed("toy") == {"m1"}
    assert again.next_hint("toy", "m2") == 3


def test_unknown_lab_lists_valid_ones(kit):
    with pytest.raises(ValueError, match="valid labs: toy, weak"):
        kit.lab("nope")


def test_a_corrupt_progress_file_is_set_aside_with_a_warning_not_lost(kit):
    path = kit.workspace / ".labkit" / "progress.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"toy": {"milestones": {"m1": "pass')  # cut by a crash
    said = []
    progress = Progress.load(kit, warn=said.append)
    assert progress.labs == {}
    [backup] = path.parent.glob("progress.json.corrupt-*")
    assert backup.read_text().startswith('{"toy"')
    assert str(backup) in said[0] and "nothing is lost" in said[0]
    progress.record("toy", {"m1": "passed"})
    progress.save()
    assert Progress.load(kit).passed("toy") == {"m1"}

"""The interview progress file: atomic, backed up when corrupt, refused when newer."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from common.interview.state import (
    FORMAT,
    InterviewState,
    ProgressFormatError,
    load_state,
    save_state,
    state_path,
    update_state,
)
from common.kit.manifest import Kit
from common.paths import REPO_ROOT


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(workspace=tmp_path / "workspace")


def test_a_missing_file_is_empty_progress_and_a_save_round_trips(kit):
    assert load_state(kit) == InterviewState()
    with update_state(kit) as state:
        state.drills["toy/arith:add"] = {"attempts": 1}
        state.current = {"id": "toy/arith:add"}
    again = load_state(kit)
    assert again.drills == {"toy/arith:add": {"attempts": 1}}
    assert again.current == {"id": "toy/arith:add"} and again.round is None
    assert json.loads(state_path(kit).read_text())["format"] == FORMAT


def test_nothing_is_saved_when_the_change_fails(kit):
    with update_state(kit) as state:
        state.drills["a/b:c"] = {}
    with pytest.raises(RuntimeError), update_state(kit) as state:
        state.drills.clear()
        raise RuntimeError("boom")
    assert "a/b:c" in load_state(kit).drills


def test_keys_this_kit_does_not_use_are_kept(kit):
    path = state_path(kit)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": 1, "drills": {}, "notes": ["keep me"]}))
    with update_state(kit) as state:
        state.drills["x/y:z"] = {}
    assert json.loads(path.read_text())["notes"] == ["keep me"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "Expecting property name"),
        ('{"format": 1, "drills": []}', '"drills" must map'),
        ('{"format": 1, "drills": {"a/b:c": 3}}', '"drills" must map'),
        ('{"format": 1, "current": "x"}', '"current" must be an object'),
        ('{"drills": {}}', '"format" must be a whole number'),
        ("[1, 2]", '"format" must be a whole number'),
    ],
)
def test_a_corrupt_file_is_backed_up_with_a_warning_naming_the_backup(
    kit, content, reason
):
    path = state_path(kit)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    warnings: list[str] = []
    state = load_state(kit, warn=warnings.append)
    assert state == InterviewState()
    [backup] = path.parent.glob("interview.json.corrupt-*")
    assert backup.read_text() == content  # nothing lost
    assert not path.exists()
    [message] = warnings
    assert str(backup) in message and reason in message
    assert "nothing is lost" in message


def test_two_corrupt_files_in_one_second_get_two_backups(kit):
    path = state_path(kit)
    path.parent.mkdir(parents=True)
    for content in ("{bad", "{worse"):
        path.write_text(content)
        load_state(kit, warn=lambda _: None)
    backups = sorted(
        p.read_text() for p in path.parent.glob("interview.json.corrupt-*")
    )
    assert backups == ["{bad", "{worse"]


def test_a_newer_format_is_refused_and_left_untouched(kit):
    path = state_path(kit)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": FORMAT + 1, "drills": {"a": "new shape"}}))
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with pytest.raises(
        ProgressFormatError, match=rf"format {FORMAT + 1}.*format {FORMAT}"
    ):
        load_state(kit)
    with pytest.raises(ProgressFormatError, match="left untouched"), update_state(kit):
        pass
    # A save that skips loading refuses too: the newer file is never overwritten.
    with pytest.raises(ProgressFormatError):
        save_state(kit, InterviewState())
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert list(path.parent.glob("interview.json*")) == [path]


_KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from common.kit.manifest import Kit
    from common.interview import state

    def pause_instead_of_renaming(src, dst):
        print("written", flush=True)
        time.sleep(60)

    os.replace = pause_instead_of_renaming
    with state.update_state(Kit(workspace=Path(sys.argv[1]))) as progress:
        progress.drills["lab/mod:new"] = {"payload": "x" * 1_000_000}
    """
)


def test_a_kill_between_write_and_rename_leaves_the_old_file(kit):
    with update_state(kit) as state:
        state.drills["lab/mod:old"] = {"attempts": 2}
    before = state_path(kit).read_bytes()
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(kit.workspace)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "written"  # temp file complete
        temps = list(state_path(kit).parent.glob(".interview.json.*.tmp"))
        assert len(temps) == 1 and temps[0].stat().st_size > 1_000_000
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    assert state_path(kit).read_bytes() == before
    assert load_state(kit).drills == {"lab/mod:old": {"attempts": 2}}
    # The next writer holds the lock, so the killed one's temp file is litter.
    with update_state(kit):
        pass
    assert not list(state_path(kit).parent.glob(".interview.json.*.tmp"))

"""A kill during `labkit reset` or `start --force` never loses the candidate's work.

A real process runs the reset and is killed (SIGKILL, no cleanup) at the two
moments that matter: after the old copy moved to the backups, before the new
starter exists; and halfway through writing the new starter. Either the old
copy or its backup must survive, whole, and the next `start` must work.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from common.kit import workspace

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from common.kit import starter, workspace
    from common.kit.manifest import Kit

    root, ws, moment = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    kit = Kit(root=root, package="fixturelabs", workspace=ws)
    sys.path.insert(0, str(root))

    def pause(*args, **kwargs):
        print("paused", flush=True)
        time.sleep(60)

    if moment == "before-starter":
        workspace.write_starter = pause
    else:  # halfway through the starter: one file written, then stuck
        real_write = Path.write_text
        def half(self, *args, **kwargs):
            real_write(self, *args, **kwargs)
            pause()
        Path.write_text = half
    workspace.reset(kit, kit.lab("toy"))
    """
)


@pytest.mark.parametrize("moment", ["before-starter", "mid-starter"])
def test_a_kill_during_reset_leaves_the_work_or_its_backup(kit, moment):
    lab = kit.lab("toy")
    folder, _ = workspace.start(kit, lab)
    (folder / "arith.py").write_text("# hours of my work\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(kit.root), str(kit.workspace), moment],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and "paused" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "the reset process exited early"
        assert "paused" in line, "the reset never reached the moment to kill it"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()

    saved = [
        path
        for path in (folder, *workspace.backups(kit, lab))
        if (path / "arith.py").exists()
        and (path / "arith.py").read_text() == "# hours of my work\n"
    ]
    assert saved, "neither the old copy nor a backup holds the work"
    # The half-written starter is never where the candidate's copy goes.
    assert (
        not folder.exists()
        or (folder / "arith.py").read_text() == ("# hours of my work\n")
        or (folder / "__init__.py").exists()
    )
    # And the kit recovers: a new start writes a whole starter.
    new, _ = workspace.start(kit, lab, force=True)
    assert "NotImplementedError" in (new / "arith.py").read_text()

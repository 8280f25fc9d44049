"""m6 — atomic sharded checkpoints, and a job that survives a killed rank.

The unit tests break a write halfway and plant half-written checkpoints;
the end-to-end tests kill a real rank by its pid (mid-epoch, and in the
middle of saving) and require the restarted job to resume from the newest
whole checkpoint and end with exactly the weights of a run never killed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from dist_helpers import assert_all_gone

from labs.distributed_training import (
    atomic_write,
    latest_complete,
    run_with_kill,
    save_shard,
    write_manifest,
)
from labs.distributed_training.workload import SIZES

SPEC = {"size": SIZES["tiny"], "seed": 8, "steps": 9, "rows": 4, "lr": 0.01, "every": 3}
# checkpoints after steps 2, 5 and 8


class Crash(Exception):
    pass


def test_a_failed_write_leaves_the_old_file_whole_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "shard.pt"
    atomic_write(path, lambda f: f.write(b"old checkpoint"))

    def half_then_crash(handle) -> None:
        handle.write(b"new che")
        raise Crash

    with pytest.raises(Crash):
        atomic_write(path, half_then_crash)
    assert path.read_bytes() == b"old checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["shard.pt"], (
        "temporary file left behind"
    )


def test_the_file_is_fsynced_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"
        events.append(f"fsync {kind}")
        real_fsync(fd)

    def replace(src, dst) -> None:
        assert Path(src).parent == Path(dst).parent, (
            "the temporary file must be beside its target"
        )
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(tmp_path / "a" / "shard.pt", lambda f: f.write(b"x" * 100))
    assert (tmp_path / "a" / "shard.pt").read_bytes() == b"x" * 100
    assert "replace" in events, "write a temporary file and rename it over the target"
    at = events.index("replace")
    assert "fsync file" in events[:at], f"fsync the file before the rename: {events}"
    assert "fsync folder" in events[at:], f"fsync the folder after the rename: {events}"


def write_checkpoint(folder: Path, step: int, world: int = 2) -> list[dict]:
    shards = [
        save_shard(folder, step, r, world, {"x": torch.full((4,), float(step))})
        for r in range(world)
    ]
    write_manifest(folder, step, world, shards)
    return shards


def test_only_whole_checkpoints_count(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    assert latest_complete(folder, 2) is None
    write_checkpoint(folder, 2)
    write_checkpoint(folder, 5)
    assert latest_complete(folder, 2) == 5
    # step 8: every shard, no manifest (a rank died before the commit)
    save_shard(folder, 8, 0, 2, {"x": torch.ones(4)})
    save_shard(folder, 8, 1, 2, {"x": torch.ones(4)})
    assert latest_complete(folder, 2) == 5
    # step 11: a manifest, but one shard missing
    shards = write_checkpoint(folder, 11)
    (folder / "step-000011" / shards[1]["file"]).unlink()
    assert latest_complete(folder, 2) == 5
    # step 14: a shard cut short after the manifest was written
    shards = write_checkpoint(folder, 14)
    shard = folder / "step-000014" / shards[0]["file"]
    shard.write_bytes(shard.read_bytes()[:-10])
    assert latest_complete(folder, 2) == 5
    # step 17: same size, different bytes (a torn write)
    shards = write_checkpoint(folder, 17)
    shard = folder / "step-000017" / shards[1]["file"]
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert latest_complete(folder, 2) == 5
    # step 20: a manifest that is not JSON
    write_checkpoint(folder, 20)
    (folder / "step-000020" / "MANIFEST.json").write_text('{"step": 20, "wor')
    assert latest_complete(folder, 2) == 5
    # step 23: whole, but written by 3 ranks
    write_checkpoint(folder, 23, world=3)
    assert latest_complete(folder, 2) == 5
    assert latest_complete(folder, 3) == 23
    # step 26: whole again, and the newest
    write_checkpoint(folder, 26)
    assert latest_complete(folder, 2) == 26
    assert (
        json.loads((folder / "step-000026" / "MANIFEST.json").read_text())["step"] == 26
    )


@pytest.fixture(scope="module")
def uninterrupted(ranks, tmp_path_factory):
    spec = {**SPEC, "checkpoint_dir": str(tmp_path_factory.mktemp("whole"))}
    return ranks.run(
        "labs.distributed_training.elastic:train_resumable", spec, world_size=2
    )


def test_a_rank_killed_mid_epoch_restarts_from_the_last_checkpoint(
    uninterrupted, tmp_path
) -> None:
    spec = {**SPEC, "checkpoint_dir": str(tmp_path)}
    run, killed = run_with_kill(
        spec, kill={"rank": 1, "step": 7}, world_size=2, timeout_s=30
    )
    assert len(killed) == 1 and run.restarts == 1, run.failures
    assert "died" in run.failures[0]
    assert [r["first_step"] for r in run.results] == [6, 6], (
        "resume after step 5's checkpoint"
    )
    for rank, result in enumerate(run.results):
        assert torch.equal(result["params"], uninterrupted[rank]["params"]), (
            f"rank {rank}: the restarted job's weights differ from an uninterrupted run's"
        )
    assert_all_gone(run.pids)


def test_a_rank_killed_while_saving_never_leaves_a_checkpoint_to_load(
    uninterrupted, tmp_path
) -> None:
    spec = {**SPEC, "checkpoint_dir": str(tmp_path)}
    kill = {"rank": 1, "step": 5, "where": "save"}
    run, killed = run_with_kill(spec, kill=kill, world_size=2, timeout_s=30)
    assert len(killed) == 1 and run.restarts == 1, run.failures
    assert [r["first_step"] for r in run.results] == [3, 3], (
        "step 5's checkpoint was cut short: resume after step 2's"
    )
    for rank, result in enumerate(run.results):
        assert torch.equal(result["params"], uninterrupted[rank]["params"]), (
            f"rank {rank}"
        )
    assert_all_gone(run.pids)

"""m3 — exactly once: atomic partition files and a manifest.

The committer's own tests need no Ray: they intercept ``os.fsync`` and
``os.replace`` to check the order of a commit, make one rename fail (only
the partition file's, or only the manifest's), and truncate a committed
file as a torn write would. The finished job's output must mirror its input
and a rerun of it must do nothing. The real crash, a full disk and a killed
scoring worker are in ``test_m3_faults.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labs.batch_serving import (
    OutputCommitter,
    list_partitions,
    plan_job,
    read_manifest,
    read_output,
    run_job,
)
from labs.batch_serving.commit import MANIFEST, PART_FILE, TEMP_MARK, part_path
from labs.batch_serving.publish import check_complete


@pytest.mark.slow
def test_the_output_mirrors_the_input_and_the_manifest_lists_it(
    finished_job, requests_root
) -> None:
    inputs = {p.name: p.rows for p in list_partitions(requests_root)}
    outputs = {p.name: p.rows for p in list_partitions(finished_job.output)}
    assert outputs == inputs and len(inputs) == 12
    committed = read_manifest(finished_job.output)["partitions"]
    assert {name: r["rows"] for name, r in committed.items()} == inputs
    for record in committed.values():
        path = finished_job.output / record["file"]
        assert record["bytes"] == path.stat().st_size
    assert len(read_output(finished_job.output)) == finished_job.plan.rows


@pytest.mark.ray
@pytest.mark.slow
def test_rerunning_a_finished_job_is_a_no_op(
    finished_job, copy_output, make_spec, file_stamps
) -> None:
    output = copy_output(finished_job.output)
    stamps = file_stamps(output)
    manifest = (output / MANIFEST).read_bytes()
    report = run_job(make_spec(output))
    assert (report.written, report.skipped, report.rows_scored) == (0, 12, 0)
    assert report.rows_out == report.rows_in == finished_job.plan.rows
    assert report.pool_size == 0  # no actor was started
    assert file_stamps(output) == stamps
    assert (output / MANIFEST).read_bytes() == manifest


def scored_table(partition) -> pa.Table:
    """A stand-in for a scored partition: its ids with made-up scores."""
    ids = pa.concat_tables(
        [pq.read_table(f, columns=["impression_id"]) for f in partition.files]
    )
    return ids.append_column("score", pa.array(np.linspace(0, 1, ids.num_rows)))


@pytest.fixture
def committer_for(make_spec, tmp_path):
    spec = make_spec(tmp_path / "out")
    plan = plan_job(spec)

    def open_committer() -> OutputCommitter:
        committer = OutputCommitter(spec.output_dir, plan.identity)
        committer.open()
        return committer

    return plan, open_committer


def test_recovery_removes_what_a_crash_leaves_and_rescores_lost_files(
    committer_for,
) -> None:
    plan, open_committer = committer_for
    parts = list(plan.partitions)
    out = plan.spec.output_dir
    first = open_committer()
    for p in parts[:3]:
        first.commit(p, scored_table(p))
    first.close()
    # What a crash can leave: a half-written temp file (died writing parts[3]),
    # a renamed file the manifest never heard of (died before recording
    # parts[4]), and a committed file that later went missing (parts[2]).
    (out / parts[3].name).mkdir(parents=True)
    (out / parts[3].name / f"{TEMP_MARK}part-0.parquet.x1").write_bytes(b"PAR1 half")
    orphan = part_path(out, parts[4].name)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"not in the manifest")
    part_path(out, parts[2].name).unlink()

    second = open_committer()
    recovery = second.recovery
    assert recovery.temp_files_removed == [
        f"{parts[3].name}/{TEMP_MARK}part-0.parquet.x1"
    ]
    assert recovery.uncommitted_removed == [f"{parts[4].name}/part-0.parquet"]
    assert recovery.repaired == [parts[2].name]
    assert recovery.committed == 2
    assert [p.name for p in second.pending(parts)] == [p.name for p in parts[2:]]
    assert not orphan.exists()
    second.close()


def test_a_torn_file_is_dropped_from_the_manifest_on_disk_and_rescored(
    committer_for,
) -> None:
    plan, open_committer = committer_for
    parts = list(plan.partitions[:3])
    out = plan.spec.output_dir
    first = open_committer()
    for p in parts:
        first.commit(p, scored_table(p))
    first.close()
    # A torn write: the name is there, not all of the bytes (a disk that lied
    # about a flush, a copy cut short). Only the size can tell.
    torn = part_path(out, parts[1].name)
    with open(torn, "r+b") as f:
        f.truncate(torn.stat().st_size // 2)

    second = open_committer()
    assert second.recovery.repaired == [parts[1].name]
    assert second.recovery.committed == 2
    # Every other reader trusts the manifest on disk: the repair must be saved
    # there, not only in this committer's memory, or they read the torn file.
    assert sorted(read_manifest(out)["partitions"]) == [parts[0].name, parts[2].name]
    assert len(read_output(out)) == parts[0].rows + parts[2].rows
    assert [p.name for p in second.pending(parts)] == [parts[1].name]
    second.commit(parts[1], scored_table(parts[1]))
    second.close()
    assert len(read_output(out)) == sum(p.rows for p in parts)


def test_a_commit_syncs_the_file_before_its_rename_and_the_folder_before_the_manifest(
    committer_for, monkeypatch
) -> None:
    """Durability: once ``commit`` returns, a power cut loses nothing it recorded.

    Every ``os.fsync`` and ``os.replace`` is recorded in order. The data must
    reach the disk before the rename points the final name at it (else a
    crash can leave a committed name over an empty or partial file), and the
    folder's new entry before the manifest lists the file.
    """
    plan, open_committer = committer_for
    part = plan.partitions[0]
    out = plan.spec.output_dir
    committer = open_committer()
    events: list[tuple[str, Any, Any]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        stat = os.fstat(fd)
        events.append(("fsync", stat.st_ino, stat.st_size))
        real_fsync(fd)

    def replace(src, dst, **kwargs) -> None:
        events.append(("replace", Path(src), Path(dst)))
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    committer.commit(part, scored_table(part))
    monkeypatch.undo()
    committer.close()

    final = part_path(out, part.name)
    renames = [i for i, e in enumerate(events) if e[0] == "replace" and e[2] == final]
    assert len(renames) == 1, f"rename the partition's file into place once: {events}"
    rename = renames[0]
    assert events[rename][1].parent == final.parent, (
        "write the temporary file beside the final one: a rename is atomic only "
        "within one filesystem"
    )
    stat = final.stat()  # a rename keeps the inode: the temporary file's
    synced = [e for e in events[:rename] if e[:2] == ("fsync", stat.st_ino)]
    assert synced, "the partition's file was not fsynced before its rename"
    assert synced[-1][2] == stat.st_size, (
        f"the file was fsynced at {synced[-1][2]} bytes but holds {stat.st_size}: "
        "write all of it, then fsync"
    )
    folder = final.parent.stat().st_ino
    folder_synced = [
        i for i, e in enumerate(events) if i > rename and e[:2] == ("fsync", folder)
    ]
    assert folder_synced, "the folder was not fsynced after the rename"
    manifest = [
        i for i, e in enumerate(events) if e[0] == "replace" and e[2] == out / MANIFEST
    ]
    assert manifest and manifest[-1] > folder_synced[0], (
        "save the manifest (which then lists the partition) only once the rename "
        f"is durable: {events}"
    )
    assert read_manifest(out)["partitions"][part.name]["bytes"] == stat.st_size


def test_a_failed_partition_rename_leaves_the_manifest_and_every_reader_intact(
    committer_for, monkeypatch
) -> None:
    """Only the partition file's rename fails: the manifest must not list it.

    The manifest's own rename still works here, so a commit that records the
    partition before renaming its file is caught.
    """
    plan, open_committer = committer_for
    first, second = plan.partitions[:2]
    out = plan.spec.output_dir
    committer = open_committer()
    committer.commit(first, scored_table(first))
    real_replace = os.replace

    def replace(src, dst, **kwargs) -> None:
        if Path(dst) == part_path(out, second.name):
            raise OSError("simulated crash at the partition's rename")
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="simulated"):
        committer.commit(second, scored_table(second))
    monkeypatch.undo()
    assert second.name not in committer.committed
    committer.close()

    assert list(read_manifest(out)["partitions"]) == [first.name]
    assert not part_path(out, second.name).exists()
    # Every reader still works, and sees the first partition only.
    ids = read_output(out)["impression_id"].to_numpy()
    np.testing.assert_array_equal(
        np.sort(ids), np.sort(scored_table(first)["impression_id"].to_numpy())
    )
    with pytest.raises(ValueError, match=r"1 of 12 partitions committed"):
        check_complete(out)
    reopened = open_committer()
    assert len(reopened.recovery.temp_files_removed) == 1
    assert [p.name for p in reopened.pending([first, second])] == [second.name]
    record = reopened.commit(second, scored_table(second))
    assert record.rows == second.rows
    assert len(read_output(out)) == first.rows + second.rows
    reopened.close()


def test_a_crash_while_saving_the_manifest_leaves_nothing_behind(
    committer_for, monkeypatch
) -> None:
    """The partition is renamed, the manifest's temporary file written, then death.

    The temporary manifest sits at the top of the output folder, beside the
    real one; the next run must delete it (and the partition file the
    manifest never listed), not leave it there for ever.
    """
    plan, open_committer = committer_for
    part = plan.partitions[0]
    out = plan.spec.output_dir
    committer = open_committer()
    real_replace = os.replace

    def replace(src, dst, **kwargs) -> None:
        if Path(dst) == out / MANIFEST:
            raise OSError("simulated crash at the manifest's rename")
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="simulated"):
        committer.commit(part, scored_table(part))
    monkeypatch.undo()
    committer.close()
    left = sorted(p.name for p in out.iterdir() if p.name.startswith(TEMP_MARK))
    assert len(left) == 1 and MANIFEST in left[0]  # what the crash left
    assert read_manifest(out)["partitions"] == {}
    assert len(read_output(out)) == 0

    reopened = open_committer()
    assert reopened.recovery.temp_files_removed == left
    assert reopened.recovery.uncommitted_removed == [f"{part.name}/{PART_FILE}"]
    assert not list(out.rglob(f"{TEMP_MARK}*"))
    assert [p.name for p in reopened.pending([part])] == [part.name]
    reopened.close()


def test_a_changed_input_partition_is_refused(committer_for, tmp_path) -> None:
    plan, open_committer = committer_for
    part = plan.partitions[0]
    committer = open_committer()
    committer.commit(part, scored_table(part))
    assert committer.pending([part]) == []
    changed = type(part)(part.name, part.files, part.rows + 1, part.bytes)
    with pytest.raises(ValueError, match=r"changed after it was scored"):
        committer.pending([changed])
    # As many rows as before, other contents: only the files' sizes tell.
    rewritten = tmp_path / "changed" / part.files[0].name
    rewritten.parent.mkdir()
    table = pq.read_table(part.files[0])
    pq.write_table(table, rewritten, row_group_size=1000, compression="none")
    same_rows = type(part)(part.name, (rewritten,), part.rows, part.bytes)
    assert same_rows.fingerprint != part.fingerprint
    with pytest.raises(ValueError, match=r"changed after it was scored"):
        committer.pending([same_rows])
    committer.close()


@pytest.mark.given
def test_an_output_holding_another_jobs_results_is_refused_before_any_work(
    committer_for, make_spec, model, tmp_path
) -> None:
    import shutil

    from labs.training import ModelRegistry

    plan, open_committer = committer_for
    committer = open_committer()
    committer.commit(plan.partitions[0], scored_table(plan.partitions[0]))
    committer.close()
    output = plan.spec.output_dir
    before = (output / MANIFEST).read_bytes()
    root = tmp_path / "registry"
    shutil.copytree(model.registry_root, root)
    registry = ModelRegistry(root)
    other = registry.register(registry.load(model.version), dict(model.metadata))
    with pytest.raises(ValueError, match=r"different job.*model_version"):
        run_job(make_spec(output, registry_root=root, model=other))
    assert (output / MANIFEST).read_bytes() == before
    with pytest.raises(ValueError, match=r"v9999"):
        plan_job(make_spec(tmp_path / "new", model="v9999"))
    assert not (tmp_path / "new").exists()

"""m3 — exactly-once output: atomic partition files and a manifest of what is committed.

    committer = OutputCommitter(output_dir, plan.identity)
    committer.open()                        # lock, check the job, clean up a crash
    for part in committer.pending(plan.partitions): ...
        committer.commit(part, table)       # temp file, fsync, rename, manifest

The output folder mirrors the input and carries its own bookkeeping::

    <out>/_job.json                              which job this is (model version, input, features)
    <out>/_manifest.json                         the committed partitions: file, rows, input fingerprint
    <out>/_lock                                  held (flock) while a job writes here
    <out>/event_date=2024-03-04/hour=00/part-0.parquet

**The commit protocol.** A partition is written to a temporary file next
to its final name, flushed to disk (``fsync``), renamed over the final name
(``os.replace`` is atomic on a POSIX filesystem: a reader sees the old file
or the new one, never half of one) and only then recorded in the manifest,
which is itself replaced atomically. The manifest is the truth: a file it
does not list does not exist as far as any reader (``read_output``,
``publish``) is concerned. So a crash at any instant leaves either

- a temporary file (died while writing): deleted on the next run;
- a renamed file not yet in the manifest (died between the two steps):
  deleted and scored again (scoring is deterministic, so nothing changes);
- a committed partition: skipped on the next run.

Re-running a finished job finds nothing pending and does nothing. Two jobs
cannot write one folder at once (the lock), and a folder that holds another
job's results is refused before any work starts.

On object stores (S3, GCS) a rename is a copy and not atomic; there the
manifest is the commit (write each file under a unique name, then one
conditional put of the manifest), as Delta Lake and Iceberg do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labs.batch_serving.requests import Partition

JOB_FILE = "_job.json"
MANIFEST = "_manifest.json"
LOCK_FILE = "_lock"
PART_FILE = "part-0.parquet"
TEMP_MARK = ".tmp-"  # every temporary file's name starts with this
FORMAT = 1


class OutputInUse(RuntimeError):
    """Another running job holds the output folder's lock."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content."""
    tmp = path.with_name(f"{TEMP_MARK}{path.name}.{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the directory entry is data too)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def part_path(output_dir: Path, partition: str) -> Path:
    return output_dir / partition / PART_FILE


def temp_path(output_dir: Path, partition: str) -> Path:
    """A fresh temporary name beside the partition's final file."""
    return output_dir / partition / f"{TEMP_MARK}{PART_FILE}.{uuid.uuid4().hex[:8]}"


@dataclass
class CommitRecord:
    """One committed partition, as the manifest records it."""

    file: str  # relative to the output folder
    rows: int
    bytes: int
    input: str  # the input partition's fingerprint when it was scored
    committed_at: str
    run: str  # the run that wrote it


@dataclass
class Recovery:
    """What ``open`` found and cleaned up after an earlier run."""

    committed: int = 0  # partitions the manifest lists, files intact
    temp_files_removed: list[str] = field(default_factory=list)
    uncommitted_removed: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # listed, file gone: rescored


class OutputCommitter:
    """Writes one job's partitions exactly once into ``output_dir`` (see the module doc).

    Args:
        output_dir: the output folder (created if missing).
        identity: what makes this job this job (``JobPlan.identity``); an
            output folder only ever holds one identity's results.
        run_id: names this run in the manifest (a fresh id by default).
    """

    def __init__(
        self,
        output_dir: str | Path,
        identity: dict[str, Any],
        run_id: str | None = None,
    ):
        self.output_dir = Path(output_dir)
        self.identity = identity
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.manifest: dict[str, Any] = {"format": FORMAT, "partitions": {}}
        self.recovery = Recovery()
        self._lock: Any = None

    # --- given: the job file, the lock and the manifest's storage --------------------
    def check_identity(self) -> None:
        """Refuse a folder that holds another job's results (nothing is written)."""
        check_output_folder(self.output_dir, self.identity)

    def open(self) -> Recovery:
        """Lock the folder, check or write ``_job.json``, load the manifest, recover."""
        self.check_identity()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.output_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held until close
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise OutputInUse(
                f"another job is writing {self.output_dir} right now (it holds "
                f"{LOCK_FILE}); wait for it, or write to another folder."
            ) from None
        if not (self.output_dir / JOB_FILE).exists():
            now = dt.datetime.now(dt.timezone.utc)
            job = {
                "format": FORMAT,
                "identity": self.identity,
                "created": now.isoformat(),
                "created_us": int(now.timestamp() * 1_000_000),
            }
            write_atomic(self.output_dir / JOB_FILE, json.dumps(job, indent=2).encode())
        self.manifest = read_manifest(self.output_dir)
        self.recovery = self.recover()
        return self.recovery

    def close(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def __enter__(self) -> OutputCommitter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save_manifest(self) -> None:
        write_atomic(
            self.output_dir / MANIFEST,
            json.dumps(self.manifest, indent=2, sort_keys=True).encode(),
        )

    @property
    def committed(self) -> dict[str, dict[str, Any]]:
        partitions: dict[str, dict[str, Any]] = self.manifest["partitions"]
        return partitions

    # --- m3 ---------------------------------------------------------------------------
    def recover(self) -> Recovery:
        """Undo what a crashed run left behind; return what was found.

        Deletes every temporary file (a partition's, or the manifest's own at
        the top of the folder) and every partition file the manifest does not
        list; a listed partition whose file is missing or has another size (a
        torn write) is dropped from the manifest, which is saved: it will be
        scored again.
        """
        recovery = Recovery()
        # BEGIN SOLUTION m3: delete temp files (names starting with TEMP_MARK, at any depth: the manifest's own are at the top) and partition files the manifest does not list; drop manifest entries whose file is missing or has the wrong size, and save the manifest if you dropped any
        listed = {record["file"] for record in self.committed.values()}
        for path in sorted(self.output_dir.rglob("*")):
            if not path.is_file():
                continue
            relative = path.relative_to(self.output_dir).as_posix()
            if path.name.startswith(TEMP_MARK):  # a manifest's too, at the top
                path.unlink()
                recovery.temp_files_removed.append(relative)
            elif path.parent != self.output_dir and relative not in listed:
                path.unlink()  # the bookkeeping files at the top are kept
                recovery.uncommitted_removed.append(relative)
        for name, record in list(self.committed.items()):
            path = self.output_dir / record["file"]
            if not path.is_file() or path.stat().st_size != record["bytes"]:
                del self.committed[name]  # lost or torn: it will be scored again
                recovery.repaired.append(name)
        if recovery.repaired:
            self.save_manifest()  # readers trust the file on disk, not this object
        recovery.committed = len(self.committed)
        # END SOLUTION
        return recovery

    def pending(self, partitions: Sequence[Partition]) -> list[Partition]:
        """The partitions still to score: those the manifest does not list.

        Raises:
            ValueError: a committed partition's input changed since it was
                scored (its rows or files differ): its output is stale.
        """
        # BEGIN SOLUTION m3: skip partitions the manifest lists (checking their input fingerprint is unchanged, else ValueError); return the rest in order
        todo = []
        for partition in partitions:
            record = self.committed.get(partition.name)
            if record is None:
                todo.append(partition)
            elif record["input"] != partition.fingerprint:
                raise ValueError(
                    f"input partition {partition.name} changed after it was scored "
                    f"into {self.output_dir} (now {partition.rows:,} rows); its "
                    "committed output is stale. Write the backfill to a new output "
                    "folder (e.g. one per model version and run date)."
                )
        return todo
        # END SOLUTION

    def commit(self, partition: Partition, table: pa.Table) -> CommitRecord:
        """Write one partition atomically, then record it in the manifest.

        Rows must already be checked (``pipeline.check_exactly_once``).
        """
        if partition.name in self.committed:
            raise ValueError(
                f"partition {partition.name} is already committed to "
                f"{self.output_dir}; a committed partition is never written twice."
            )
        final = part_path(self.output_dir, partition.name)
        final.parent.mkdir(parents=True, exist_ok=True)
        # BEGIN SOLUTION m3: write the table to a temp file beside the final one, fsync it, os.replace it over the final name, fsync the folder; then add a CommitRecord to the manifest and save it (write_atomic)
        tmp = temp_path(self.output_dir, partition.name)
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        fsync_dir(final.parent)
        record = CommitRecord(
            file=final.relative_to(self.output_dir).as_posix(),
            rows=table.num_rows,
            bytes=final.stat().st_size,
            input=partition.fingerprint,
            committed_at=dt.datetime.now(dt.timezone.utc).isoformat(),
            run=self.run_id,
        )
        self.committed[partition.name] = asdict(record)
        self.save_manifest()
        # END SOLUTION
        return record


def read_job(output_dir: str | Path) -> dict[str, Any] | None:
    try:
        job: dict[str, Any] = json.loads((Path(output_dir) / JOB_FILE).read_text())
    except FileNotFoundError:
        return None
    return job


def read_manifest(output_dir: str | Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((Path(output_dir) / MANIFEST).read_text())
    except FileNotFoundError:
        return {"format": FORMAT, "partitions": {}}
    return manifest


def check_output_folder(output_dir: Path, identity: dict[str, Any]) -> None:
    """An output folder is empty, missing, or holds this very job's results.

    Raises:
        ValueError: it holds another job's results (the differing fields are
            named), or files that no job wrote.
    """
    if not output_dir.exists():
        return
    if not output_dir.is_dir():
        raise ValueError(f"output path {output_dir} is a file; give a folder.")
    job = read_job(output_dir)
    if job is None:
        strays = [p.name for p in output_dir.iterdir() if p.name != LOCK_FILE]
        if strays:
            raise ValueError(
                f"output folder {output_dir} already holds {sorted(strays)[:5]} but no "
                f"{JOB_FILE}: it was not written by a batch job. Choose an empty or "
                "new folder."
            )
        return
    theirs = job.get("identity", {})
    differ = sorted(
        k for k in set(theirs) | set(identity) if theirs.get(k) != identity.get(k)
    )
    if differ:
        detail = "; ".join(
            f"{k}: {theirs.get(k)!r} there, {identity.get(k)!r} now" for k in differ[:4]
        )
        raise ValueError(
            f"output folder {output_dir} already holds the results of a different job "
            f"({detail}). Resume that job with the same settings, or write this one "
            "to a new folder (e.g. one per model version)."
        )


def read_output(
    output_dir: str | Path, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Every committed row (only files the manifest lists), by partition then id."""
    output_dir = Path(output_dir)
    manifest = read_manifest(output_dir)
    frames = [
        pq.read_table(output_dir / record["file"], columns=columns).to_pandas()
        for _, record in sorted(manifest["partitions"].items())
    ]
    if not frames:
        from labs.batch_serving.pipeline import output_schema

        schema = output_schema()
        empty = (
            schema.empty_table()
            if columns is None
            else schema.empty_table().select(columns)
        )
        return empty.to_pandas()
    return pd.concat(frames, ignore_index=True)

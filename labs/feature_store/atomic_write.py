"""Atomic writes: a file is the old one or the new one, never half of one.

    write_text(text, root / "registry.json", "the store's registry")
    with StagedFiles() as stage:                  # several files, all or none
        stage.parquet(rows, day_path, "the 2024-03-04 partition")
        stage.parquet(bad, quarantine_path, "the quarantined rows")
        stage.publish()
        registry.record_ingest(report)            # if this fails, both are undone

The data goes to a hidden temporary name in the same folder, is flushed to
the disk (``fsync``), then a rename puts it in place; a rename within one
file system is atomic. So a reader (a DuckDB scan, a concurrent join) or a
crash mid-write never sees a truncated file, and a stored file that changed
is wholly new, which the as-of index cache (``index_cache.py``) relies on.

A full disk shows up as ``ENOSPC`` from a write or, on file systems that
allocate late, from ``fsync``. Either way the temporary files are removed
and :class:`DiskFullError` names what was being written, so the step fails
with a sentence to act on and the store keeps exactly what it held.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import uuid
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class DiskFullError(OSError):
    """The disk filled up while the store wrote (``errno`` is ``ENOSPC``)."""

    def __init__(self, message: str):
        super().__init__(message)  # str() is the sentence, without "[Errno 28]"
        self.errno = errno.ENOSPC


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk is full (``ENOSPC``, or SQLite's SQLITE_FULL)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def disk_full(what: str, path: Path | str, exc: BaseException) -> DiskFullError:
    """The error to raise when writing ``what`` at ``path`` hit a full disk."""
    return DiskFullError(
        f"the disk is full: writing {what} to {path} failed ({exc}). Nothing was "
        f"replaced, so readers still see what was there before; free space on "
        f"the disk holding {Path(path).parent} and run the step again.",
    )


def write_file(tmp: Path, payload: pa.Table | str) -> None:
    """Write one temporary file: a table as Parquet, text as UTF-8.

    Every file of the store goes through here and :func:`fsync`, so a test
    can fill the disk by replacing either.
    """
    if isinstance(payload, str):
        tmp.write_text(payload, encoding="utf-8")
    else:
        pq.write_table(payload, tmp)


def fsync(path: Path) -> None:
    """Flush ``path``'s data to the disk (where a late-allocating disk reports full)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StagedFiles:
    """Files written under hidden temporary names, then renamed into place.

    A context manager and a small transaction. Stage every file first
    (:meth:`parquet`, :meth:`text`); :meth:`publish` renames them into
    place once all are written, keeping a hard link to each file it
    replaces. If the block raises, even after :meth:`publish` (say the
    registry that records the files could not be saved), the staged files
    are removed, new files unlinked and replaced ones restored: readers see
    exactly what was there before. A clean exit publishes what is left and
    drops the old copies.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []  # (temporary, final)
        self._created: list[Path] = []  # published where no file was
        self._replaced: list[tuple[Path, Path]] = []  # (old copy, final)

    def _stage(self, path: Path, payload: pa.Table | str, what: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _hidden(path, "tmp")
        self._staged.append((tmp, path))
        try:
            write_file(tmp, payload)
            fsync(tmp)
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full(what, path, exc) from exc
            raise

    def parquet(self, data: pd.DataFrame | pa.Table, path: Path, what: str) -> None:
        """Stage ``data`` as Parquet for ``path``; ``what`` names it in errors."""
        self._stage(path, _as_table(data), what)

    def text(self, text: str, path: Path, what: str) -> None:
        """Stage ``text`` for ``path``; ``what`` names it in errors."""
        self._stage(path, text, what)

    def publish(self) -> None:
        """Rename every staged file into place (the old ones kept until the end)."""
        while self._staged:
            tmp, path = self._staged[0]
            if path.exists():
                old = _hidden(path, "old")
                os.link(path, old)
                self._replaced.append((old, path))
            else:
                self._created.append(path)
            tmp.replace(path)
            self._staged.pop(0)

    def _undo(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        for path in self._created:
            path.unlink(missing_ok=True)
        for old, path in self._replaced:
            old.replace(path)

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is not None:
            self._undo()
            return
        try:
            self.publish()
        except BaseException:
            self._undo()
            raise
        for old, _ in self._replaced:
            old.unlink(missing_ok=True)


def _as_table(data: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
    return data


def _hidden(path: Path, suffix: str) -> Path:
    """A hidden name beside ``path`` that no reader's ``*.parquet`` glob matches."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.{suffix}")


def write_text(text: str, path: Path, what: str = "") -> None:
    """Write ``text`` at ``path`` (folders created), atomically."""
    with StagedFiles() as stage:
        stage.text(text, path, what or path.name)

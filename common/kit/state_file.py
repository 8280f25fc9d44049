"""A small JSON state file that a kill cannot corrupt and a bad read cannot lose.

Used for the candidate's progress (``workspace/.labkit/progress.json``) and
interview mode's (``interview.json``):

- :func:`write_atomically` writes a temporary file in the same folder,
  flushes and ``fsync``s it, renames it over the old one (``os.replace``) and
  ``fsync``s the folder: a process killed at any point leaves the old file or
  the new one, whole.
- :func:`set_aside` moves an unreadable file to ``<name>.corrupt-<UTC stamp>``
  and says so: the kit goes on with empty state, and the backup keeps what
  the file had.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

Warn = Callable[[str], object]


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes it 0600; give it a normal file's mode
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def set_aside(path: Path, reason: str, warn: Warn, what: str) -> Path:
    """Move an unreadable ``path`` to a ``.corrupt-<stamp>`` backup and warn."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"{path.name}.corrupt-{stamp}")
    number = 1
    while backup.exists():
        number += 1
        backup = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
    os.replace(path, backup)
    warn(
        f"warning: {path} is not readable {what} ({reason}). It was moved to "
        f"{backup} and the kit starts with empty {what}; nothing is lost, the "
        "backup holds what the file had."
    )
    return backup

"""The interview progress file: one JSON file, written atomically, never silently lost.

``<workspace>/.labkit/interview.json`` holds every drill's record (best time,
hints, its spaced-repetition card), the drill in progress and the round in
progress::

    {"format": 1, "drills": {"<drill id>": {...}}, "current": {...} | null,
     "round": {...} | null}

- **Atomic.** A save writes a temporary file in the same folder, flushes and
  ``fsync``s it, renames it over the old file (``os.replace``) and ``fsync``s
  the folder. A process killed at any point leaves either the old file or the
  new one, whole.
- **One writer at a time.** :func:`update_state` holds an ``flock`` on
  ``interview.lock`` while it loads, changes and saves, so a hint recorded in
  one terminal while a check runs in another is not overwritten.
- **Corrupt means backed up, not reset.** A file that is not JSON or has the
  wrong shape is moved to ``interview.json.corrupt-<UTC stamp>`` with a
  warning that names the backup; the kit goes on with empty progress.
- **Newer means refused.** A ``format`` above :data:`FORMAT` was written by a
  newer kit: loading raises :class:`KitError` and the file is left untouched.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one terminal at a time
    fcntl = None  # type: ignore[assignment]

from common.kit.errors import KitError
from common.kit.manifest import Kit
from common.kit.state_file import Warn, set_aside, write_atomically

FORMAT = 1  # the progress format this kit reads and writes
FILE_NAME = "interview.json"
_KEYS = ("format", "drills", "current", "round")


class ProgressFormatError(KitError, RuntimeError):
    """The progress file was written by a newer kit; the message says which."""


@dataclass
class InterviewState:
    """Everything interview mode remembers (see the module docstring)."""

    drills: dict[str, dict[str, Any]] = field(default_factory=dict)
    current: dict[str, Any] | None = None  # the drill in progress, outside a round
    round: dict[str, Any] | None = None  # the round in progress
    # top-level keys of this format that this kit does not use: kept as they are
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "format": FORMAT,
            "drills": self.drills,
            "current": self.current,
            "round": self.round,
        }

    @classmethod
    def from_json(cls, data: object) -> InterviewState:
        """Read a parsed file of this format; ``ValueError`` names a wrong shape."""
        if not isinstance(data, dict):
            raise ValueError(f"the top level is a {type(data).__name__}, not an object")
        drills = data.get("drills", {})
        if not isinstance(drills, dict) or not all(
            isinstance(record, dict) for record in drills.values()
        ):
            raise ValueError('"drills" must map each drill id to an object')
        for key in ("current", "round"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise ValueError(f'"{key}" must be an object or null')
        extra = {k: v for k, v in data.items() if k not in _KEYS}
        return cls(drills, data.get("current"), data.get("round"), extra)


def state_path(kit: Kit) -> Path:
    return kit.workspace / ".labkit" / FILE_NAME


def _warn_on_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _kit_version() -> str:
    try:
        return metadata.version("labkit")
    except metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "this version"


def _format_of(data: object) -> int:
    """The file's ``format``; ``ValueError`` when it is missing or not a number."""
    found = data.get("format") if isinstance(data, dict) else None
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise ValueError(f'"format" must be a whole number >= 1, got {found!r}')
    return found


def _refuse_newer(path: Path, found: int) -> None:
    if found > FORMAT:
        raise ProgressFormatError(
            f"{path} holds interview progress in format {found}, written by a newer "
            f"labkit; this kit ({_kit_version()}) reads format {FORMAT}. Update the "
            "kit (`git pull && make install`) to use it; the file was left untouched."
        )


def load_state(kit: Kit, warn: Warn | None = None) -> InterviewState:
    """The saved progress; empty when there is none yet.

    A corrupt file is moved aside (see the module docstring) and reported
    through ``warn`` (default: a line on stderr).

    Raises:
        ProgressFormatError: the file is of a newer format than :data:`FORMAT`.
    """
    path = state_path(kit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return InterviewState()
    try:
        data = json.loads(text)
        found = _format_of(data)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError included
        return _set_aside(path, str(exc), warn or _warn_on_stderr)
    _refuse_newer(path, found)
    try:
        return InterviewState.from_json(data)
    except ValueError as exc:
        return _set_aside(path, str(exc), warn or _warn_on_stderr)


def _set_aside(path: Path, reason: str, warn: Warn) -> InterviewState:
    set_aside(path, reason, warn, "interview progress")
    return InterviewState()


def save_state(kit: Kit, state: InterviewState) -> None:
    """Write ``state`` atomically (callers hold the lock: use :func:`update_state`).

    Raises:
        ProgressFormatError: the file on disk is of a newer format; it is kept.
    """
    path = state_path(kit)
    with contextlib.suppress(OSError, ValueError):
        _refuse_newer(path, _format_of(json.loads(path.read_text(encoding="utf-8"))))
    text = json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n"
    write_atomically(path, text)


@contextlib.contextmanager
def update_state(kit: Kit, warn: Warn | None = None) -> Iterator[InterviewState]:
    """Load the progress under the lock, let the caller change it, save it.

    Nothing is saved when the body raises.
    """
    folder = state_path(kit).parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "interview.lock", "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        # Under the lock no writer is alive, so a temp file is a killed one's.
        for leftover in folder.glob(f".{FILE_NAME}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        state = load_state(kit, warn)
        yield state
        save_state(kit, state)

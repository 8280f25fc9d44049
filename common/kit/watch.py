"""``labkit watch``: re-check a lab whenever a file in its workspace is saved.

Uses file-system events (watchdog) when available and falls back to polling
modification times, which works everywhere (network drives, containers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path


def _snapshot(folder: Path) -> dict[Path, int]:
    return {
        path: path.stat().st_mtime_ns
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts
    }


def poll_changes(folder: Path, interval_s: float = 0.5) -> Callable[[float], bool]:
    """Return ``wait(timeout)``: True once any ``.py`` file under ``folder`` changed."""
    state = {"last": _snapshot(folder)}

    def wait(timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = _snapshot(folder)
            if current != state["last"]:
                state["last"] = current
                return True
            time.sleep(interval_s)
        return False

    return wait


def event_changes(folder: Path) -> Callable[[float], bool]:
    """Like :func:`poll_changes` but driven by watchdog's file-system events."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    changed = threading.Event()

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if str(event.src_path).endswith(".py") and event.event_type != "opened":
                changed.set()

    observer = Observer()
    observer.schedule(Handler(), str(folder), recursive=True)
    observer.daemon = True
    observer.start()

    def wait(timeout: float) -> bool:
        if changed.wait(timeout):
            time.sleep(0.2)  # editors save in several steps: let them finish
            changed.clear()
            return True
        return False

    return wait


def watch(
    folder: Path,
    on_change: Callable[[], None],
    *,
    poll: bool = False,
    max_runs: int | None = None,
    idle_timeout_s: float = 1.0,
) -> str:
    """Run ``on_change`` now and after every save; return the mode used.

    Stops after ``max_runs`` runs (for tests) or on Ctrl-C.
    """
    mode = "polling"
    wait = None
    if not poll:
        try:
            wait, mode = event_changes(folder), "events"
        except (ImportError, OSError):
            wait = None
    if wait is None:
        wait = poll_changes(folder)
    runs = 0
    on_change()
    runs += 1
    while max_runs is None or runs < max_runs:
        if wait(idle_timeout_s):
            on_change()
            runs += 1
    return mode

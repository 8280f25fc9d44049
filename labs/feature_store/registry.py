"""The registry: the store's small, durable state in one JSON file.

    registry = Registry(root / "registry.json")
    registry.state["offline_version"]

It records what the offline store holds (a version bumped by every ingest
that writes rows, and the ingest reports), which version and which view
definitions the feature rows were computed from, and how far each view was
materialised into each online store (the watermark that
``materialize_incremental`` starts from). Every change is written atomically
(``atomic_write.py``) and takes effect in memory only once it is on disk, so
a crash or a full disk never leaves half a registry, nor one object that
believes what the file does not say.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labs.feature_store.atomic_write import write_text

FORMAT = 1


def _empty() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "offline_version": 0,  # bumped by every ingest that writes rows
        "ingests": [],  # one IngestReport dict per ingest call
        "computed": None,  # {"offline_version", "fingerprint", "computed_at_us", "rows"}
        "watermarks": {},  # online store id -> view -> last materialised end (µs)
    }


class Registry:
    """Load, change and save the store's state (one writer at a time)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.state = self._load()

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return _empty()
        state: dict[str, Any] = json.loads(self.path.read_text())
        if state.get("format") != FORMAT:
            raise ValueError(
                f"{self.path} was written by another version of the feature store "
                f"(format {state.get('format')}, expected {FORMAT}); delete the "
                "store's folder and rebuild it."
            )
        return state

    def save(self) -> None:
        text = json.dumps(self.state, indent=2, sort_keys=True) + "\n"
        write_text(text, self.path, "the store's registry (registry.json)")

    def _change(self, edit: Callable[[dict[str, Any]], None]) -> None:
        """Apply ``edit`` to a copy, save it, and only then keep it."""
        before = self.state
        self.state = copy.deepcopy(before)
        edit(self.state)
        try:
            self.save()
        except BaseException:
            self.state = before
            raise

    # --- the pieces of state the store uses -------------------------------------
    def record_ingest(self, report: dict[str, Any]) -> None:
        def edit(state: dict[str, Any]) -> None:
            state["ingests"].append(report)
            if report["written_rows"]:
                state["offline_version"] += 1

        self._change(edit)

    def record_items(self, rows: int) -> None:
        """An items table was stored: views keyed through item categories are stale."""

        def edit(state: dict[str, Any]) -> None:
            state["items_rows"] = rows
            state["offline_version"] += 1

        self._change(edit)

    def views_current(self, fingerprint: str) -> bool:
        computed = self.state["computed"]
        return (
            computed is not None
            and computed["offline_version"] == self.state["offline_version"]
            and computed["fingerprint"] == fingerprint
        )

    def record_computed(
        self, fingerprint: str, computed_at_us: int, rows: dict[str, int]
    ) -> None:
        def edit(state: dict[str, Any]) -> None:
            state["computed"] = {
                "offline_version": state["offline_version"],
                "fingerprint": fingerprint,
                "computed_at_us": computed_at_us,
                "rows": rows,
            }

        self._change(edit)

    def watermark(self, online_id: str, view: str) -> int | None:
        value = self.state["watermarks"].get(online_id, {}).get(view)
        return None if value is None else int(value)

    def set_watermark(self, online_id: str, view: str, end_us: int) -> None:
        def edit(state: dict[str, Any]) -> None:
            state["watermarks"].setdefault(online_id, {})[view] = int(end_us)

        self._change(edit)

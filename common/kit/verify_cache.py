"""Remember labs that verified cleanly, by the content of what they depend on.

``labkit verify`` re-runs every milestone's tests with its regions stubbed and
with each known wrong answer: minutes per lab. A lab whose inputs are byte for
byte what they were at its last clean run need not be proved again. Its
digest covers, by content (never by timestamp):

- the lab's package (code, ``lab.toml`` with its hints, the brief) and
  ``tests/<lab>/`` (tests, fixtures, the wrong-answer catalogue);
- the reference of every lab it imports, directly or through another lab;
- the shared code and configuration: ``common/``, ``infra/``,
  ``tests/conftest.py``, ``pyproject.toml``, ``constraints.txt``;
- the Python version and platform.

Only a lab whose every check passed is remembered. The cache lives in
``<kit root>/.labkit-cache/verify.json`` (git-ignored), so a fresh clone,
and CI, verifies everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from common.kit.imports import labs_imported
from common.kit.manifest import Kit, Lab

_SHARED = ("common", "infra", "tests/conftest.py", "pyproject.toml", "constraints.txt")
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".hypothesis"}


def _files(root: Path, rel: str) -> Iterable[Path]:
    path = root / rel
    if path.is_file():
        yield path
    elif path.is_dir():
        for item in sorted(path.rglob("*")):
            skipped = _SKIP_PARTS & set(item.parts) or item.suffix in {".pyc", ".pyo"}
            if item.is_file() and not skipped:
                yield item


def depends_on(kit: Kit, lab: Lab) -> list[Lab]:
    """``lab`` and every lab it imports, directly or through another lab."""
    by_id = {other.id: other for other in kit.labs}
    seen = {lab.id}
    todo = [lab]
    while todo:
        current = todo.pop()
        files = [
            *_files(current.package_dir, "."),
            *_files(kit.root, f"tests/{current.id}"),
        ]
        for name in labs_imported([f for f in files if f.suffix == ".py"], kit.package):
            if name in by_id and name not in seen:
                seen.add(name)
                todo.append(by_id[name])
    return [other for other in kit.labs if other.id in seen]


def digest(kit: Kit, lab: Lab) -> str:
    """A hash of everything ``lab``'s verification depends on (see the module doc)."""
    rels = [*_SHARED, f"tests/{lab.id}"]
    rels += [
        str(other.package_dir.relative_to(kit.root)) for other in depends_on(kit, lab)
    ]
    h = hashlib.sha256()
    h.update(f"{sys.version}|{platform.platform()}".encode())
    for rel in rels:
        for path in _files(kit.root, rel):
            h.update(str(path.relative_to(kit.root)).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


class VerifyCache:
    """Digest -> findings of labs that verified cleanly."""

    def __init__(self, kit: Kit):
        self.path = kit.root / ".labkit-cache" / "verify.json"
        try:
            self.entries: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}  # missing or unreadable: verify everything

    def get(self, lab: Lab, key: str, *, need_reference: bool) -> dict[str, Any] | None:
        entry = self.entries.get(lab.id)
        if not entry or entry.get("digest") != key:
            return None
        if need_reference and not entry.get("with_reference"):
            return None
        return dict(entry)

    def put(
        self,
        lab: Lab,
        key: str,
        findings: list[dict[str, Any]],
        *,
        with_reference: bool,
    ) -> None:
        self.entries[lab.id] = {
            "digest": key,
            "with_reference": with_reference,
            "verified_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "findings": findings,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"verify.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        tmp.replace(self.path)

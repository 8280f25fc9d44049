"""``build_store``: a ready feature store over a ShopStream preset, cached on disk.

    from labs.feature_store import build_store
    store = build_store("tiny")              # ingested, views computed, online filled
    store.get_online_features([1, 2], ["user_activity:clicks_1h"])

Later labs call this instead of repeating the pipeline. The store is built
once into ``data/feature_store/<preset>-seed<seed>/`` and rebuilt when it is
missing or stale: another dataset version, other view definitions, or other
feature-store code (a candidate's workspace copy builds its own). It is built
in a temporary sibling folder and renamed into place, so a crash or a
concurrent build never leaves half a store.

Treat the cached store as read-only (reads, joins, online lookups). To
ingest or materialise for yourself, pass ``root=`` to get a private copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.paths import data_dir
from common.shopstream import ensure, load
from labs.feature_store.schema import from_us, instant_us
from labs.feature_store.store import FeatureStore
from labs.feature_store.views import FeatureView, default_views, fingerprint

log = logging.getLogger(__name__)
MARKER = "build.json"  # written last: its presence marks a complete store


def store_dir(preset: str, seed: int = 0) -> Path:
    """Where ``build_store`` caches a preset's store."""
    return data_dir() / "feature_store" / f"{preset}-seed{seed}"


def code_fingerprint() -> str:
    """A hash of the code that makes the store's data: a changed implementation rebuilds."""
    digest = hashlib.sha256()
    measuring = {
        "run.py",
        "bench.py",
        "measure.py",
        "growth.py",
    }  # they read the store, never shape it
    for path in sorted(
        p for p in Path(__file__).parent.glob("*.py") if p.name not in measuring
    ):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _wanted(preset: str, seed: int, views: Sequence[FeatureView]) -> dict[str, Any]:
    meta = json.loads(
        (ensure(preset, seed) / "meta.json").read_text()
    )  # no table reads
    return {
        "preset": preset,
        "seed": seed,
        "dataset": {"version": meta["version"], "config": meta["config"]},
        "views": fingerprint(views),
        "code": code_fingerprint(),
    }


def _read_marker(root: Path) -> dict[str, Any] | None:
    try:
        marker: dict[str, Any] = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker


def _build(target: Path, wanted: dict[str, Any], views: Sequence[FeatureView]) -> None:
    """Ingest, compute the views and fill the SQLite online store, then swap in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        dataset = load(wanted["preset"], wanted["seed"])
        with FeatureStore(tmp, views) as store:
            report = store.ingest(dataset.impressions)
            store.ingest_items(dataset.items)
            store.compute_views()
            first, last = store.event_range()
            store.materialize(first, last)
        marker = {
            **wanted,
            "ingest": report.as_dict(),
            "start_us": instant_us(first, "first"),
            "end_us": instant_us(last, "last"),
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        if target.exists():
            stale = target.with_name(f".{target.name}.stale-{uuid.uuid4().hex[:8]}")
            with contextlib.suppress(FileNotFoundError):
                target.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:
            # Another process finished first; keep its store if it is current.
            current = _read_marker(target)
            if current is None or any(current.get(k) != v for k, v in wanted.items()):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_store(
    preset: str = "tiny",
    seed: int = 0,
    root: str | Path | None = None,
    online: str = "sqlite",
    views: Sequence[FeatureView] | None = None,
    **online_options: Any,
) -> FeatureStore:
    """A feature store over ShopStream ``preset``, materialised to the data's end.

    Args:
        preset: ``tiny`` (tests, ~1 s to build), ``small`` or ``large``.
        seed: the dataset seed.
        root: where to keep the store; ``data/feature_store/<preset>-seed<seed>/``
            by default (shared: treat it as read-only).
        online: ``"sqlite"`` (the cached ``online.db``), ``"redis"`` (pass
            ``url=``; filled on every call, under namespace
            ``fs-<preset>-seed<seed>`` unless given) or ``"memory"`` (filled
            on every call).
        views: the view definitions; ``default_views()`` when omitted.
        **online_options: passed to the online backend.

    Returns:
        The store; its online values are as of the last event in the data
        (``store.watermark(view)``), which is also the online TTL's "now".
    """
    chosen = list(views) if views is not None else default_views()
    target = Path(root) if root is not None else store_dir(preset, seed)
    wanted = _wanted(preset, seed, chosen)
    marker = _read_marker(target)
    if marker is None or any(marker.get(k) != v for k, v in wanted.items()):
        log.info("building feature store %s", target)
        _build(target, wanted, chosen)
        marker = _read_marker(target)
        assert marker is not None
    if online == "redis":
        online_options.setdefault("namespace", f"fs-{preset}-seed{seed}")
    store = FeatureStore(target, chosen, online=online, **online_options)
    if online != "sqlite":
        store.materialize(from_us(marker["start_us"]), from_us(marker["end_us"]))
    return store

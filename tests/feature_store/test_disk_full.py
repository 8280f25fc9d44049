"""A full disk while the store writes: the step fails clearly and readers see the old state.

Every file the store writes goes through ``atomic_write.write_file`` and
``atomic_write.fsync``; these tests make the n-th write fail with ``ENOSPC``
(after writing half the file, as a real full disk does) or its fsync fail,
then check byte for byte that the store's folder is what it was, with no
temporary file left, and that a retry with space succeeds. The online
store's disk fills for real: SQLite's ``max_page_count`` makes it answer
SQLITE_FULL ("database or disk is full"), as it does on a full disk.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest

import labs.feature_store.atomic_write as atomic_write
from labs.feature_store import FeatureStore
from labs.feature_store.atomic_write import DiskFullError
from labs.feature_store.online_sqlite import SqliteOnlineStore
from labs.feature_store.registry import Registry

pytestmark = pytest.mark.given  # the store's plumbing, not a milestone's region


def fill_disk_at(monkeypatch: pytest.MonkeyPatch, n: int, where: str) -> list[Path]:
    """Make the ``n``-th file write (from 0) fail with ENOSPC in its write or fsync."""
    written: list[Path] = []
    real_write, real_fsync = atomic_write.write_file, atomic_write.fsync

    def write_file(tmp: Path, payload: object) -> None:
        written.append(tmp)
        real_write(tmp, payload)
        if where == "write" and len(written) - 1 == n:
            os.truncate(tmp, tmp.stat().st_size // 2)  # half a file, then no space
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    def fsync(path: Path) -> None:
        if where == "fsync" and len(written) - 1 == n:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_fsync(path)

    monkeypatch.setattr(atomic_write, "write_file", write_file)
    monkeypatch.setattr(atomic_write, "fsync", fsync)
    return written


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) and a hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("online.db")
    }


def readers_view(root: Path) -> tuple[int, int, dict]:
    """What a fresh reader sees: stored impressions, quarantined rows, registry."""
    with FeatureStore(root, online="memory") as reader:
        stored = int(
            reader.offline.query("SELECT count(*) AS n FROM impressions")["n"][0]
        )
        return stored, len(reader.offline.read_quarantine()), reader.registry.state


@pytest.fixture
def new_batch(tiny) -> pd.DataFrame:
    """Tiny's raw impressions (dirty rows included) as ids the store has not seen."""
    return tiny.impressions.assign(
        impression_id=tiny.impressions["impression_id"] + 10**9
    )


# Each of the five writes fails in its write; the first and last in fsync too.
@pytest.mark.parametrize(
    ("n", "where"), [(n, "write") for n in range(5)] + [(0, "fsync"), (4, "fsync")]
)
def test_ingest_on_a_full_disk_changes_nothing(make_store, new_batch, n, where):
    store = make_store("memory")
    before, seen = snapshot(store.root), readers_view(store.root)
    days = sorted(new_batch["event_timestamp"].dt.strftime("%Y-%m-%d").unique())
    assert len(days) == 3  # so the writes are: 3 partitions, quarantine, registry
    what = [*(f"impressions of {d}" for d in days), "quarantined impressions"]
    what.append("the store's registry")
    with pytest.MonkeyPatch.context() as patch:
        fill_disk_at(patch, n, where)
        with pytest.raises(
            DiskFullError, match=rf"^the disk is full: writing .*{what[n]}"
        ):
            store.ingest(new_batch)
    assert snapshot(store.root) == before  # no new file, no temporary left behind
    assert readers_view(store.root) == seen
    assert store.registry.state == seen[2]  # the open store believes the file
    report = store.ingest(new_batch)  # space again: the same batch goes in whole
    assert readers_view(store.root)[0] == seen[0] + report.written_rows


@pytest.mark.parametrize("n", range(4))
def test_recomputing_views_on_a_full_disk_keeps_every_old_file(
    make_store, new_batch, monkeypatch, n
):
    store = make_store("memory")
    store.ingest(new_batch)  # the views are now stale
    before = snapshot(store.root)
    registry_text = (store.root / "registry.json").read_text()
    views = list(store.views)  # written in this order, then the registry
    what = [f"the feature rows of '{v}'" for v in views] + ["the store's registry"]
    fill_disk_at(monkeypatch, n, "write")
    with pytest.raises(DiskFullError, match=rf"writing {what[n]}"):
        store.compute_views()
    assert snapshot(store.root) == before
    assert Registry(store.root / "registry.json").state == store.registry.state
    assert (store.root / "registry.json").read_text() == registry_text
    assert not store.views_current()
    monkeypatch.undo()
    store.compute_views()
    assert store.views_current()


def _online_rows(store: FeatureStore) -> dict[str, pd.DataFrame]:
    """Every view's online rows, read through another connection, by key."""
    reader = SqliteOnlineStore(store.root / "online.db")
    try:
        out = {}
        for view in store.views:
            batch = reader.scan(view)
            frame = pd.DataFrame(batch.values, columns=list(batch.features))
            frame.insert(0, "created_us", batch.created_us)
            frame.insert(0, "event_us", batch.event_us)
            frame.insert(0, "key", batch.keys)
            out[view] = frame.sort_values("key").reset_index(drop=True)
        return out
    finally:
        reader.close()


def test_materialising_onto_a_full_disk_writes_nothing_and_reruns(make_store):
    store = make_store("sqlite")
    _, last = store.event_range()
    before, rows_before = snapshot(store.root), _online_rows(store)
    conn = store.online.connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # not one page more
    with pytest.raises(
        DiskFullError,
        match=r"^the disk is full: materialising view 'user_activity' into "
        r"sqlite:.*database or disk is full.*watermark stays at None",
    ):
        store.materialize_incremental(last)
    assert snapshot(store.root) == before
    for view, rows in _online_rows(store).items():
        pd.testing.assert_frame_equal(rows, rows_before[view])
        assert store.watermark(view) is None
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    store.materialize_incremental(last)
    clean = make_store("sqlite")
    clean.materialize_incremental(last)
    for view, rows in _online_rows(store).items():
        assert len(rows) > 0
        pd.testing.assert_frame_equal(rows, _online_rows(clean)[view])


def test_a_full_disk_at_the_watermark_keeps_the_old_one(make_store, monkeypatch):
    store = make_store("sqlite")
    _, last = store.event_range()
    registry_text = (store.root / "registry.json").read_text()
    fill_disk_at(monkeypatch, 0, "fsync")  # the first file written: the registry
    with pytest.raises(DiskFullError, match=r"writing the store's registry"):
        store.materialize_incremental(last)
    assert (store.root / "registry.json").read_text() == registry_text
    assert store.watermark("user_activity") is None  # in memory as on disk
    monkeypatch.undo()
    store.materialize_incremental(last)
    assert all(store.watermark(v) is not None for v in store.views)

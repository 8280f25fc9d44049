"""Fixtures for the feature-store lab: tiny ShopStream data and stores built from it.

Building a store (ingest + views) on ``tiny`` takes well under a second, so
it is done once per session; tests that write (materialise, ingest) get a
private copy of the folder, so no test sees another's watermarks or rows.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from common.shopstream import ShopStream, dirty_mask, load


@pytest.fixture(scope="session")
def tiny() -> ShopStream:
    return load("tiny", seed=0)


@pytest.fixture(scope="session")
def clean(tiny: ShopStream) -> pd.DataFrame:
    """The clean impressions (ShopStream's own dirty-row oracle), typed as stored."""
    rows = tiny.impressions[~dirty_mask(tiny.impressions)].copy()
    rows["user_id"] = rows["user_id"].astype("int64")
    return rows.sort_values(["event_timestamp", "impression_id"]).reset_index(drop=True)


@pytest.fixture(scope="session")
def built_root(tiny: ShopStream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store folder with tiny ingested and its views computed (not materialised)."""
    from labs.feature_store import FeatureStore

    root = tmp_path_factory.mktemp("fs") / "store"
    with FeatureStore(root, online="memory") as store:
        store.ingest(tiny.impressions)
        store.ingest_items(tiny.items)
        store.compute_views()
    return root


@pytest.fixture
def make_store(
    built_root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., object]]:
    """``make_store(kind)``: a private copy of the built store on an online backend.

    Redis stores use the session's private server (``redis_url``, flushed
    per test) under a fresh namespace.
    """
    from labs.feature_store import FeatureStore

    opened: list[FeatureStore] = []

    def make(kind: str = "memory", **options: object) -> FeatureStore:
        root = tmp_path / f"store-{len(opened)}"
        shutil.copytree(built_root, root)
        if kind == "redis":
            options.setdefault("url", request.getfixturevalue("redis_url"))
            options.setdefault("namespace", f"t-{uuid.uuid4().hex[:8]}")
        store = FeatureStore(root, online=kind, **options)
        opened.append(store)
        return store

    try:
        yield make
    finally:
        for store in opened:
            store.close()

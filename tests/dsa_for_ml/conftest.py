"""Fixtures of the dsa_for_ml lab: the tiny ShopStream and its feature store.

``build_store("tiny")`` is cached on disk and opened once per session; tests
only read it. Tests that write to an online store make their own
``MemoryOnlineStore``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from labs.dsa_for_ml.workloads import AccessLog, access_log, stream_events
from labs.feature_store import FeatureStore, build_store


@pytest.fixture(scope="session")
def tiny_store() -> Iterator[FeatureStore]:
    """The tiny preset's feature store, materialised to its last event (SQLite)."""
    store = build_store("tiny")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def tiny_log() -> AccessLog:
    """The tiny preset's ~5k ranking requests (user + 10-item slate), in time order."""
    return access_log("tiny")


@pytest.fixture(scope="session")
def tiny_events(tiny_store: FeatureStore) -> pd.DataFrame:
    """The store's ~51k valid impressions as a stream, sorted by arrival."""
    return stream_events(tiny_store)

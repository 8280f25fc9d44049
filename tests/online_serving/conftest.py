"""Fixtures for the online-serving lab: a private model registry, real servers, an oracle.

- ``registry_root``: a private copy of the tiny ``production`` model's registry
  (hot-swap tests promote into it, never into the shared one).
- ``servers``: starts uvicorn subprocesses on 127.0.0.1 and free ports, one
  per distinct settings, shared by the tests of the session and all stopped
  at its end (also when a test fails). A server that cannot start fails fast
  with its log, and the failure is remembered rather than retried.
- ``settings_for(milestone, ...)``: the service's settings with every later
  milestone's feature switched off, so each milestone is tested on its own.
- ``oracle``: the scores the service must return, computed offline: a
  point-in-time join at the store's watermark, then ``LoadedModel.predict``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serving_helpers import Servers


@pytest.fixture(scope="session")
def store() -> Iterator[Any]:
    from labs.feature_store import build_store

    opened = build_store("tiny", seed=0)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory: pytest.TempPathFactory, store: Any) -> Path:
    """A registry holding only the current tiny production model, as ``production``."""
    from labs.training import ModelRegistry, ensure_production_model

    shared = ensure_production_model("tiny", seed=0)
    root = tmp_path_factory.mktemp("registry") / "tiny-seed0"
    (root / "versions").mkdir(parents=True)
    shutil.copytree(
        Path(shared.registry_root) / "versions" / shared.version,
        root / "versions" / shared.version,
    )
    ModelRegistry(root).promote(shared.version, "production")
    return root


@pytest.fixture(scope="session")
def model(registry_root: Path) -> Any:
    from labs.training import ModelRegistry

    return ModelRegistry(registry_root).load("production")


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    pool = Servers()
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
def offline(store: Any) -> Callable[[Any, int, list[int]], np.ndarray]:
    """``offline(model, user, items)``: the scores the service must return.

    Features come from the *offline* path (the point-in-time join at the time
    the online store was materialised to), the scores from the model itself.
    """
    from labs.feature_store.schema import from_us

    marks = {store.watermark(view) for view in ("user_activity", "item_stats")}
    assert len(marks) == 1, f"the views were materialised to different times: {marks}"
    now = from_us(marks.pop())

    def scores(model: Any, user_id: int, item_ids: list[int]) -> np.ndarray:
        entity_df = pd.DataFrame(
            {
                "user_id": np.full(len(item_ids), user_id, dtype=np.int64),
                "item_id": np.asarray(item_ids, dtype=np.int64),
                "event_timestamp": now,
            }
        )
        joined = store.get_historical_features(
            entity_df, model.metadata["features"], defaults=model.metadata["defaults"]
        )
        return model.predict(joined)

    return scores


@pytest.fixture(scope="session")
def oracle(offline: Any, model: Any) -> Callable[[int, list[int]], np.ndarray]:
    """``oracle(user, items)``: the offline scores of the production model (skew test)."""
    return lambda user_id, item_ids: offline(model, user_id, item_ids)


@pytest.fixture(scope="session")
def active_user(store: Any) -> int:
    """A user with a row in the online store (has recent activity)."""
    batch = store.online.scan("user_activity")
    return int(batch.keys[len(batch.keys) // 2])


@pytest.fixture(scope="session")
def idle_user(store: Any) -> int:
    """A catalogue user with no online row at all: every user feature is a default."""
    from labs.online_serving import Catalogue

    stored = {int(k) for k in store.online.scan("user_activity").keys}
    users = Catalogue.from_shopstream("tiny", 0).users
    return int(next(u for u in users if int(u) not in stored))

"""Fixtures for the online-serving lab: a private model registry, real servers, an oracle.

- ``registry_root``: a private copy of the tiny ``production`` model's registry
  (hot-swap tests promote into it, never into the shared one).
- ``servers``: starts uvicorn processes on 127.0.0.1 and free ports, one
  per distinct settings, shared by the tests of the session and all stopped
  at its end (also when a test fails). On Linux each is a fork of one fork
  server that imported the serving stack once (``infra.warm_fork``). A
  server that cannot start fails fast with its log, and the failure is
  remembered rather than retried.
- ``contract_url``, ``batching_url``, ``full_url``, ``swap_server``,
  ``sigterm_server``, ``serve_url``: the servers themselves. Before the first test runs, every
  one the selected tests ask for starts in the background, side by side
  (start-up is mostly imports), Ray Serve included, so that they start while
  the in-process tests run.
- ``settings_for(milestone, ...)``: the service's settings with every later
  milestone's feature switched off, so each milestone is tested on its own.
- ``oracle``: the scores the service must return, computed offline: a
  point-in-time join at the store's watermark, then ``LoadedModel.predict``.
- ``service_parts``: what ``Service.open`` would open (store, model holder,
  catalogue, popularity), opened once, for in-process services built with
  ``serving_helpers.make_service``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serving_helpers import (
    Servers,
    batching_settings,
    contract_settings,
    full_settings,
    serve_settings,
    sigterm_settings,
    swap_settings,
)

from infra import warm_fork
from infra.uvicorn_server import UvicornServer

SERVE_READY_TIMEOUT_S = 180.0


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
    # The session's servers are forks of one fork server that imported the
    # serving stack once (infra.warm_fork), not five new interpreters.
    warm_fork.serve_from_here()
    pool = Servers()
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
def swap_registry(
    tmp_path_factory: pytest.TempPathFactory, registry_root: Path
) -> dict:
    """A registry copy with a second, visibly different version, not yet promoted."""
    import torch

    from labs.training import ModelRegistry

    root = tmp_path_factory.mktemp("swap") / "registry"
    shutil.copytree(registry_root, root)
    registry = ModelRegistry(root)
    old_version = registry.resolve("production")
    new = registry.load("production")
    with torch.no_grad():
        new.model.mlp[-1].bias += 1.0  # a visibly different model
    new_version = registry.register(new, new.metadata)
    return {"root": root, "old": old_version, "new": new_version}


@pytest.fixture(scope="session")
def serve_deployment(registry_root: Path) -> Iterator[Future[str]]:
    """The app on Ray Serve with 2 replicas, deployed in a background thread.

    Ray is started here (joined if the session already runs it). At the end
    a Ray started here is shut down, which stops Serve's actors with it; Serve's
    own graceful shutdown is only for a Ray the session joined (it waits up to
    30 s for replicas whose app does not drain quickly: a wrong answer's).
    """
    import ray

    from infra.ports import free_port
    from infra.ray_session import init_ray, shutdown_ray
    from labs.online_serving.serve_app import deploy, shutdown

    # Imported here, not in the thread: an import holds the GIL for seconds,
    # which would stall the event loops of the timed tests running meanwhile.
    started_here: list[bool] = []

    def deploy_app() -> str:
        started_here.append(not ray.is_initialized())
        init_ray()
        return deploy(serve_settings(registry_root), port=free_port(), num_replicas=2)

    pool = ThreadPoolExecutor(1, thread_name_prefix="serve-deploy")
    future = pool.submit(deploy_app)
    try:
        yield future
    finally:
        pool.shutdown(wait=True)  # a deploy in progress ends (or fails) first
        if started_here:  # the thread got as far as Ray
            ours = started_here[0]
            if ours:
                shutdown_ray()
            else:
                shutdown()


SERVER_FIXTURES = {
    "contract_url",
    "batching_url",
    "full_url",
    "swap_server",
    "sigterm_server",
}


@pytest.fixture(scope="session", autouse=True)
def _start_servers_early(request: pytest.FixtureRequest) -> None:
    """Start every server the selected tests ask for, side by side, before they run.

    Not on a pytest-xdist worker: it collects every test but runs only some,
    so its servers (and Ray Serve) start when a test asks for them.
    """
    if hasattr(request.config, "workerinput"):
        return
    wanted = set().union(*(set(item.fixturenames) for item in request.session.items))
    if "serve_url" in wanted:
        request.getfixturevalue("serve_deployment")
    if not wanted & SERVER_FIXTURES:
        return
    pool: Servers = request.getfixturevalue("servers")
    root: Path = request.getfixturevalue("registry_root")
    pool.prestart(
        *[contract_settings(root)] * ("contract_url" in wanted),
        *[batching_settings(root)] * ("batching_url" in wanted),
        *[full_settings(root)] * ("full_url" in wanted),
    )
    if "sigterm_server" in wanted:
        pool.prestart(sigterm_settings(root), private=True)
    if "swap_server" in wanted:
        swap_root = request.getfixturevalue("swap_registry")["root"]
        pool.prestart(swap_settings(swap_root), private=True)


@pytest.fixture(scope="session")
def contract_url(servers: Servers, registry_root: Path) -> str:
    """m1 and m2's server: batching and every later feature off."""
    return servers.get(contract_settings(registry_root)).url


@pytest.fixture(scope="session")
def batching_url(servers: Servers, registry_root: Path) -> str:
    return servers.get(batching_settings(registry_root)).url


@pytest.fixture(scope="session")
def full_url(servers: Servers, registry_root: Path) -> str:
    """Every feature on, with an admin token: the schema fuzz's server."""
    return servers.get(full_settings(registry_root)).url


@pytest.fixture
def swap_server(servers: Servers, swap_registry: dict) -> UvicornServer:
    return servers.private(swap_settings(swap_registry["root"]))


@pytest.fixture
def sigterm_server(servers: Servers, registry_root: Path) -> UvicornServer:
    return servers.private(sigterm_settings(registry_root))


@pytest.fixture(scope="session")
def serve_url(serve_deployment: Future[str]) -> str:
    """Ray Serve's URL once both replicas answer (the deploy's error if it failed)."""
    try:
        return serve_deployment.result(timeout=SERVE_READY_TIMEOUT_S)
    except FutureTimeout:
        pytest.fail(
            f"Ray Serve was not deployed within {SERVE_READY_TIMEOUT_S:.0f} s",
            pytrace=False,
        )


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


@pytest.fixture(scope="session")
def service_parts(store: Any, registry_root: Path) -> dict[str, Any]:
    """The pieces of an opened service, shared by the in-process tests (never closed)."""
    from labs.online_serving import Catalogue, ModelHolder, Popularity
    from labs.online_serving.features import POPULARITY_REF
    from labs.training import ModelRegistry

    models = ModelHolder(ModelRegistry(registry_root))
    models.load_initial()
    fill = float(models.current.metadata["defaults"].get(POPULARITY_REF, 0.0))
    return {
        "registry_root": registry_root,
        "store": store,
        "models": models,
        "catalogue": Catalogue.from_shopstream("tiny", 0),
        "popularity": Popularity.from_store(store, fill),
    }

"""Shared fixtures: real services started privately, and test-wide settings.

- ``redis_url``: a private ``redis-server`` on a free port (persistence off),
  flushed before each test. Without the binary the test is skipped with the
  install command, except where services are required
  (``LABKIT_REQUIRE_SERVICES=1``, set by ``.ci/run``): there it fails.
- ``ray_session``: one local Ray for the whole test session (``ray.init``
  costs seconds), dashboard off, always shut down.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: verify runs Ray tests unlocked
    fcntl = None  # type: ignore[assignment]

import pytest
from hypothesis import HealthCheck, Phase, settings

from infra.redis_server import INSTALL_HINT, RedisServer, redis_binary, start_redis

settings.register_profile(
    "labkit",
    deadline=None,  # CI machines are noisy; correctness, not speed, is tested here
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: a failure reproduces
    print_blob=False,  # hypothesis turns it on under CI; check output must not differ
    # No "explain" phase: it costs seconds per failing property on a starter,
    # and the shrunk example is what a candidate needs.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "labkit"))

REQUIRE_SERVICES = os.environ.get("LABKIT_REQUIRE_SERVICES") == "1"
_RAY_LOCK = pytest.StashKey[IO[str]]()


@pytest.fixture(scope="session")
def redis_available() -> str:
    """The redis-server binary; skip (or, where services are required, fail) without it."""
    binary = redis_binary()
    if binary is None:
        message = f"redis-server is not installed; {INSTALL_HINT}"
        if REQUIRE_SERVICES:
            pytest.fail(
                f"{message} (LABKIT_REQUIRE_SERVICES=1: Redis tests must run here)"
            )
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def redis_server(redis_available: str) -> Iterator[RedisServer]:
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Under ``labkit verify``, hold the machine-wide Ray lock while Ray tests run.

    ``labkit verify`` runs several pytest processes at once and names a lock
    file in ``LABKIT_RAY_LOCK``. A run that will start Ray takes the lock for
    its whole session (the lock is freed when the process exits), so two local
    Ray clusters never compete for the same two cores.
    """
    path = os.environ.get("LABKIT_RAY_LOCK")
    if not path or fcntl is None or config.option.collectonly:
        return  # collecting starts no Ray (verify's starter check only collects)
    if any(
        item.get_closest_marker("ray") or "ray_session" in item.fixturenames  # type: ignore[attr-defined]
        for item in items
    ):
        handle = open(path, "a")  # noqa: SIM115 - held until the process exits
        fcntl.flock(handle, fcntl.LOCK_EX)
        config.stash[_RAY_LOCK] = handle


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    import ray

    from infra.ray_session import init_ray

    init_ray()
    try:
        yield
    finally:
        ray.shutdown()

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

import pytest
from hypothesis import HealthCheck, Phase, settings

from common.kit.ray_lane import RAY_BUSY_EXIT, take_lock
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
# `labkit verify` needs a verdict, not a report: a failing example proves a
# stub or a wrong answer is caught, and shrinking it to the smallest one (most
# of a failing property's time) is for a reader. Nor does verify keep examples.
settings.register_profile(
    "labkit-verdict",
    parent=settings.get_profile("labkit"),
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
    database=None,
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


def uses_ray(item: pytest.Item) -> bool:
    """Whether ``item`` starts (or joins) Ray: marked ``ray`` or asks for ``ray_session``."""
    return bool(item.get_closest_marker("ray")) or "ray_session" in getattr(
        item, "fixturenames", ()
    )


def _group(item: pytest.Item, ray: bool, labs: set[str]) -> str | None:
    """The xdist group of ``item``: ``ray``, its lab (one of ``labs``), or none (any worker)."""
    if ray:
        return "ray"
    try:
        parts = item.path.relative_to(item.config.rootpath).parts
    except ValueError:  # a test file outside the kit
        return None
    if len(parts) > 2 and parts[0] == "tests" and parts[1] in labs:
        return parts[1]
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """One Ray at a time: in ``make test``'s parallel workers, and under ``labkit verify``.

    ``make test`` runs the suite on pytest-xdist workers (``--dist loadgroup``):
    every Ray test joins the group ``ray``, so one worker runs them all in one
    Ray session, and every other test of a lab the group of its lab, so the
    lab's session fixtures (servers, models) are built by one worker only.
    The harness's and infra's tests go to whichever worker is free.

    Under ``labkit verify``, a run that will start Ray holds the machine-wide
    Ray lock for its whole session, so two local Ray clusters never compete
    for the same two cores; a run that verify asked to *defer* stops before
    any test with ``RAY_BUSY_EXIT``, and verify runs it again on its Ray lane
    (``common.kit.ray_lane``).
    """
    lab_folders = config.rootpath / "labs"
    labs = (
        {p.name for p in lab_folders.iterdir() if p.is_dir()}
        if lab_folders.is_dir()
        else set()
    )
    any_ray = False
    for item in items:
        ray = uses_ray(item)
        any_ray = any_ray or ray
        group = _group(item, ray, labs)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    if config.option.collectonly or not any_ray:
        return  # collecting starts no Ray (verify's starter check only collects)
    handle = take_lock()
    if handle is False:
        pytest.exit("this run needs Ray: verify runs it on its Ray lane", RAY_BUSY_EXIT)
    if handle is not None:
        config.stash[_RAY_LOCK] = handle


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    from infra.ray_session import init_ray, shutdown_ray

    init_ray()
    try:
        yield
    finally:
        shutdown_ray()

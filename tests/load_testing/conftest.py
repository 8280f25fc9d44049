"""Fixtures for the load-testing lab: small real servers, shared by the session.

- ``slow_server``: ``labs/load_testing/slow_app.py`` with a 10 ms service time,
  one request at a time: a capacity of ~100 requests/s known in advance.
- ``bare_server``: ``infra/bare_app.py``, the empty endpoint.
- ``workload``: ShopStream-shaped requests on the ``tiny`` preset.

Every server is a uvicorn subprocess on 127.0.0.1, stopped at the end of the
session even when a test fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lt_helpers import SERVICE_MS

from infra.apps import BARE_APP, SLOW_APP
from infra.uvicorn_server import UvicornServer, start_uvicorn


@pytest.fixture(scope="session")
def slow_server() -> Iterator[UvicornServer]:
    from labs.load_testing.slow_app import slow_env

    server = start_uvicorn(SLOW_APP, env=slow_env(SERVICE_MS))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bare_server() -> Iterator[UvicornServer]:
    server = start_uvicorn(BARE_APP)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def workload() -> Any:
    from labs.load_testing.workload import Workload

    return Workload.from_shopstream("tiny", 0)


@pytest.fixture(scope="session")
def score_requests() -> list[tuple[str, dict[str, int]]]:
    """Fixed /score bodies (the slowed and bare apps accept any JSON object)."""
    return [("/score", {"user_id": i, "item_id": 2 * i}) for i in range(50)]

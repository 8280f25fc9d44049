"""uvicorn runs the app in its own process on loopback and stops by id."""

import os

import httpx
import pytest

from infra.apps import BARE_APP
from infra.uvicorn_server import (
    PortTaken,
    ServerDidNotStart,
    running_uvicorn,
    start_uvicorn,
)

pytestmark = pytest.mark.server


def test_bare_app_serves_over_http_and_stops():
    with running_uvicorn(BARE_APP) as server:
        assert server.url.startswith("http://127.0.0.1:")
        response = httpx.post(server.url + "/score", json={"user_id": 1, "item_id": 2})
        assert (
            response.status_code == 200 and response.json()["model_version"] == "bare"
        )
        pid = server.process.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_broken_app_reports_its_log():
    with pytest.raises(ServerDidNotStart, match="no_such_module"):
        start_uvicorn("no_such_module:create_app", timeout_s=20)


def test_a_port_taken_before_uvicorn_binds_is_replaced_but_a_given_one_is_not(
    first_free_port_taken,
):
    """free_port's port can be taken before the server binds it (seen in CI)."""
    with running_uvicorn(BARE_APP) as server:
        assert server.port != first_free_port_taken
        assert httpx.get(server.url + "/healthz").status_code == 200
    with pytest.raises(PortTaken, match="address already in use"):
        start_uvicorn(BARE_APP, port=first_free_port_taken, timeout_s=20)

"""uvicorn runs the app in its own process on loopback and stops by id."""

import os

import httpx
import pytest

from infra.apps import BARE_APP
from infra.uvicorn_server import ServerDidNotStart, running_uvicorn, start_uvicorn

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

"""The closed-loop load generator: counts add up, failures are counted, runs are bounded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.apps import BARE_APP
from infra.loadgen import LoadResult, run_load
from infra.ports import free_port
from infra.uvicorn_server import UvicornServer, running_uvicorn, start_uvicorn

pytestmark = pytest.mark.server

# A tiny app with the failure modes a load test meets: errors and a stall.
TROUBLE_APP = """
import asyncio
from fastapi import FastAPI, Response

def create_app():
    app = FastAPI()
    state = {"n": 0}

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/boom")
    def boom(body: dict):
        raise RuntimeError("a 500 on purpose")

    @app.post("/flaky")
    def flaky(body: dict, response: Response):
        state["n"] += 1
        response.headers["x-parity"] = "odd" if state["n"] % 2 else "even"
        if state["n"] % 3 == 0:
            response.status_code = 503
        return {}

    @app.post("/busy")
    def busy(body: dict, response: Response):
        response.status_code = 503
        response.headers["retry-after"] = "1"
        return {}

    @app.post("/stall")
    async def stall(body: dict):
        await asyncio.sleep(3)
        return {}

    return app
"""


@pytest.fixture(scope="module")
def bare() -> Iterator[UvicornServer]:
    with running_uvicorn(BARE_APP) as server:
        yield server


@pytest.fixture(scope="module")
def trouble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UvicornServer]:
    folder: Path = tmp_path_factory.mktemp("trouble")
    (folder / "trouble_app.py").write_text(TROUBLE_APP)
    server = start_uvicorn(
        "trouble_app:create_app", extra_args=("--app-dir", str(folder))
    )
    try:
        yield server
    finally:
        server.stop()


def test_a_request_bound_run_counts_every_request(bare) -> None:
    payloads = [{"user_id": k, "item_id": k} for k in range(10)]
    result = run_load(
        bare.url, "/score", payloads, concurrency=4, duration_s=30, max_requests=300
    )
    assert isinstance(result, LoadResult)
    assert result.count == result.ok == 300
    assert result.status_counts == {"200": 300} and result.failures == {}
    lat = result.latency_ms
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert result.rps == pytest.approx(300 / result.duration_s)
    assert result.cpu_s > 0


def test_a_time_bound_run_stops_on_time(bare) -> None:
    began = time.perf_counter()
    result = run_load(
        bare.url,
        "/healthz",
        None,
        method="GET",
        concurrency=8,
        duration_s=0.5,
        max_requests=10_000_000,
    )
    wall = time.perf_counter() - began
    assert result.ok > 0 and result.failures == {}
    assert 0.4 < result.duration_s < 1.5, result.duration_s
    assert wall < 20, f"a 0.5 s run took {wall:.1f} s end to end"


def test_a_closed_port_counts_connect_failures() -> None:
    port = free_port()  # nothing listens here
    result = run_load(
        f"http://127.0.0.1:{port}",
        "/score",
        [{}],
        concurrency=2,
        duration_s=5,
        max_requests=50,
    )
    assert result.ok == 0
    assert result.failures == {"connect": 50} and result.count == 50


def test_error_statuses_are_failures_by_kind(trouble) -> None:
    result = run_load(
        trouble.url, "/boom", [{}], concurrency=2, duration_s=30, max_requests=40
    )
    assert result.ok == 0 and result.failures == {"http_500": 40}
    assert result.status_counts == {"500": 40}
    # uvicorn drops the connection after an unhandled error: the next request
    # is re-sent on a new one rather than counted as a failure it never was.
    assert result.reconnects <= 40
    assert result.rejected_latency_ms["p50"] > 0 and result.latency_ms == {}


def test_mixed_outcomes_add_up_and_headers_are_counted(trouble) -> None:
    result = run_load(
        trouble.url,
        "/flaky",
        [{}],
        concurrency=1,
        duration_s=30,
        max_requests=60,
        count_header="x-parity",
    )
    assert result.count == 60
    assert result.failures == {"http_503": 20} and result.ok == 40
    assert sum(result.header_counts.values()) == 40  # counted on 2xx responses only
    assert set(result.header_counts) <= {"odd", "even"}


def test_a_polite_client_waits_as_retry_after_says(trouble) -> None:
    kwargs = {"concurrency": 2, "duration_s": 1.5, "max_requests": 100_000}
    rude = run_load(trouble.url, "/busy", [{}], **kwargs)
    polite = run_load(trouble.url, "/busy", [{}], honour_retry_after=True, **kwargs)
    assert set(rude.failures) == set(polite.failures) == {"http_503"}
    assert 2 <= polite.count <= 6, (
        polite.count
    )  # each worker: a 503, then 1 s of waiting
    assert rude.count > 10 * polite.count, (rude.count, polite.count)


def test_a_stalled_server_is_a_timeout_not_a_hang(trouble) -> None:
    began = time.perf_counter()
    result = run_load(
        trouble.url,
        "/stall",
        [{}],
        concurrency=3,
        duration_s=0.5,
        max_requests=100,
        timeout_s=0.5,
    )
    assert result.ok == 0 and result.failures.get("timeout", 0) >= 3, result.failures
    assert time.perf_counter() - began < 20


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3:8000", "http://example.com", "https://127.0.0.1:8000"]
)
def test_only_plain_http_on_loopback_is_loaded(url) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1|HTTP"):
        run_load(url, "/score", [{}], duration_s=0.1)

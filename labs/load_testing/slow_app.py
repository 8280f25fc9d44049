"""A service slowed on purpose: every request holds one lock for ``service_ms``.

    LABKIT_SLOW_SERVICE_MS=20 uvicorn labs.load_testing.slow_app:create_app --factory

One request is served at a time (an ``asyncio.Lock``), each for exactly
``service_ms``, so the capacity is known in advance, ``1000 / service_ms``
requests per second per worker, and every request beyond it waits in a
queue. That is the server the coordinated-omission test needs: under
overload the waiting is real, and only a load generator that keeps sending
on schedule sees it. Settings come from the environment so that
``start_uvicorn(SLOW_APP, env=slow_env(20))`` (``SLOW_APP`` from ``infra/apps.py``)
configures a subprocess.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import FastAPI

ENV = "LABKIT_SLOW_SERVICE_MS"


def slow_env(service_ms: float) -> dict[str, str]:
    """The environment that sets a slow app's service time."""
    if service_ms < 0:
        raise ValueError(f"service_ms must be ≥ 0, got {service_ms}.")
    return {ENV: str(service_ms)}


def create_app() -> FastAPI:
    service_s = float(os.environ.get(ENV, "10")) / 1e3
    app = FastAPI(title="slowed service")
    lock = asyncio.Lock()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def serve() -> None:
        async with lock:  # one at a time: a single server of a queue
            await asyncio.sleep(service_s)

    @app.post("/score")
    async def score(body: dict[str, Any]) -> dict[str, Any]:
        await serve()
        return {"score": 0.0, "model_version": "slow"}

    @app.post("/rank")
    async def rank(body: dict[str, Any]) -> dict[str, Any]:
        await serve()
        return {"items": [], "model_version": "slow", "fallback": False}

    return app

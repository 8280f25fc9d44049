"""An empty FastAPI service: the HTTP ceiling of one uvicorn worker.

It answers ``/score`` and ``/rank`` with constants and does no work, so its
requests/s is what the server and the load generator can do at best; every
real service's figure is read against it. Run it with
``infra.uvicorn_server.start_uvicorn(infra.apps.BARE_APP)``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI(title="bare endpoint")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/score")
    def score(body: dict[str, Any]) -> dict[str, Any]:
        return {"score": 0.0, "model_version": "bare"}

    @app.post("/rank")
    def rank(body: dict[str, Any]) -> dict[str, Any]:
        return {"items": [], "model_version": "bare", "fallback": False}

    return app

"""An empty FastAPI service: the HTTP ceiling of one uvicorn worker.

It answers ``/score`` and ``/rank`` with constants and does no work, so its
requests/s is what the server and the load generator can do at best; every
real service's figure is read against it. Run it with
``infra.uvicorn_server.start_uvicorn(infra.apps.BARE_APP)``.

It is written the way a fast FastAPI app is written, so the ceiling is the
real one: ``async def`` handlers (a plain ``def`` handler is run on a thread
pool, one hand-off per request, which halved this figure) and typed bodies
(pydantic parses them in compiled code; an untyped ``dict`` body costs more).
The body types take the same fields as the ranking service's, so the same
requests are valid against both.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class ScoreBody(BaseModel):
    user_id: int
    item_id: int


class RankBody(BaseModel):
    user_id: int
    item_ids: list[int]


class ScoreAnswer(BaseModel):
    score: float
    model_version: str


class RankAnswer(BaseModel):
    items: list[int]
    model_version: str
    fallback: bool


def create_app() -> FastAPI:
    app = FastAPI(title="bare endpoint")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/score")
    async def score(body: ScoreBody) -> ScoreAnswer:
        return ScoreAnswer(score=0.0, model_version="bare")

    @app.post("/rank")
    async def rank(body: RankBody) -> RankAnswer:
        return RankAnswer(items=[], model_version="bare", fallback=False)

    return app

"""FastAPI dependencies as ``Annotated`` aliases: what a route may ask for.

    @router.post("/generate")
    async def generate(body: GenerateRequest, engine: EngineDep) -> Response: ...

Everything comes from ``app.state``, filled once by the lifespan in
``main.py``; a route never loads a model or builds an engine itself. The
providers are ``async def``: a plain ``def`` dependency would cost a
thread hand-off per request for a lookup in ``app.state``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from labs.llm_serving.async_engine import AsyncEngine
from labs.llm_serving.checkpoint import ServedModel
from labs.llm_serving.settings import Settings


async def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def get_served(request: Request) -> ServedModel:
    return request.app.state.served  # type: ignore[no-any-return]


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
ServedDep = Annotated[ServedModel, Depends(get_served)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]

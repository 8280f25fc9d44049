"""FastAPI dependencies as ``Annotated`` aliases: what a route may ask for.

    @router.post("/score")
    async def score(body: ScoreRequest, service: ServiceDep) -> Response: ...

Everything comes from ``app.state``, filled once by the lifespan in
``main.py``; a route never opens a model or a store itself. Tests and the
Ray Serve deployment build the same app, so they get the same dependencies.

The providers are ``async def`` on purpose: FastAPI runs a plain ``def``
dependency in its thread pool, one thread hand-off per dependency per
request, which for a lookup in ``app.state`` costs far more than the lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from labs.feature_store import FeatureStore
from labs.online_serving.service import Service
from labs.online_serving.settings import Settings
from labs.training import LoadedModel


async def get_service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_model(request: Request) -> LoadedModel:
    """The model serving *now* (it may be swapped between two requests)."""
    return request.app.state.service.models.current  # type: ignore[no-any-return]


async def get_store(request: Request) -> FeatureStore:
    return request.app.state.service.store  # type: ignore[no-any-return]


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
StoreDep = Annotated[FeatureStore, Depends(get_store)]

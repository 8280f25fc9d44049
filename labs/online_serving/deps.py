"""FastAPI dependencies as ``Annotated`` aliases: what a route may ask for.

    @router.get("/info")
    async def info(model: ModelDep, settings: SettingsDep) -> dict[str, Any]: ...

Everything comes from ``app.state``, filled once by the lifespan in
``main.py``; a route never opens a model or a store itself. The two scoring
routes read the service without a dependency (``routes.hot_service``): on
their hot path, resolving one costs more than the lookup. Tests and the
Ray Serve deployment build the same app, so they get the same dependencies.

The providers are ``async def`` on purpose: FastAPI runs a plain ``def``
dependency in its thread pool, one thread hand-off per dependency per
request, which for a lookup in ``app.state`` costs far more than the lookup.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from labs.feature_store import FeatureStore
from labs.online_serving.service import Service
from labs.online_serving.settings import ENV_PREFIX, Settings
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


bearer = HTTPBearer(
    auto_error=False,
    description=f"The service's {ENV_PREFIX}ADMIN_TOKEN; admin routes are off without it.",
)


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Let an admin route run only for the configured token (compared in constant time).

    Raises:
        HTTPException: 404 while no token is configured (the routes are off),
            401 without a bearer token, 403 with a wrong one.
    """
    expected = request.app.state.settings.admin_token
    if not expected:
        raise HTTPException(
            404,
            f"admin routes are off: start the service with {ENV_PREFIX}ADMIN_TOKEN "
            "set to turn them on.",
        )
    if credentials is None:
        raise HTTPException(
            401,
            "send the admin token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # compare_digest takes as long for a near miss as for a far one: the time of
    # a refusal tells an attacker nothing about how much of the token was right.
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(403, "wrong admin token.")


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
StoreDep = Annotated[FeatureStore, Depends(get_store)]
AdminOnly = Depends(require_admin)

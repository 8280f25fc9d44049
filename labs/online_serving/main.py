"""The app factory: ``create_app(settings)`` builds the ranking service's FastAPI app.

    uvicorn labs.online_serving.main:create_app --factory --host 127.0.0.1 --port 8000

    from infra.uvicorn_server import running_uvicorn
    with running_uvicorn("labs.online_serving.main:create_app",
                         env=Settings(max_batch_size=32).as_env(),
                         health_path="/readyz") as server:
        httpx.post(server.url + "/score", json={"user_id": 7, "item_id": 42})

The lifespan opens the :class:`~labs.online_serving.service.Service` (model,
store, catalogue) once, in a thread so the event loop stays free, and
closes it after uvicorn has finished the requests in flight (on SIGTERM
uvicorn stops accepting, completes what it holds, then runs the shutdown).
The same app runs under uvicorn and as a Ray Serve deployment
(``serve_app.py``).

The routes are the app's own (``FastAPI(routes=router.routes)``), not an
included router: ``include_router`` keeps the router as a layer that every
request walks through before matching, 22 µs a request here. One thing this
gives up: ``app.dependency_overrides`` does not reach these routes (they were
made by the module's ``APIRouter``, not by the app), so tests build an app
with the settings they need rather than overriding a dependency.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from labs.online_serving.metrics import RequestTimer
from labs.online_serving.routes import router
from labs.online_serving.service import Overloaded, RequestRejected, Service
from labs.online_serving.settings import Settings, get_settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the service before the first request; close it after the last."""
    service = await asyncio.to_thread(Service.open, app.state.settings)
    service.start()
    app.state.service = service
    # The tail was the garbage collector: with torch, pandas and the model
    # loaded, a full collection walks millions of long-lived objects and
    # stalls every request in flight, which set /score's p99 at ~125 ms
    # against a p50 of ~10 ms. Nothing loaded so far is garbage, so freeze
    # it: collections then walk only what requests allocate (p99 ~18 ms).
    gc.freeze()
    log.info(
        "ready: model %s, store %s",
        service.models.version,
        service.store.online.describe(),
    )
    try:
        yield
    finally:
        await service.close()


NON_FINITE = (
    "; JSON has no NaN or Infinity (and no number past 1.8e308): send a finite number"
)


def json_safe(value: Any) -> Any:
    """``value`` with each NaN or infinity written as text, so JSON can carry it."""
    if isinstance(value, float) and not math.isfinite(value):
        return (
            "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        )
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


async def invalid_body(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, made safe for the NaN and Infinity Python's JSON parser lets in.

    Its default handler echoes each bad value back, and a NaN in that echo
    makes writing the 422 fail: the client would get a 500 for its own mistake.
    """
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    for error in errors:
        if json_safe(error.get("input")) != error.get("input"):
            error["msg"] += NON_FINITE
    return JSONResponse({"detail": json_safe(errors)}, status_code=422)


async def rejected(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestRejected)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


async def overloaded(request: Request, exc: Exception) -> JSONResponse:
    retry_after = request.app.state.settings.retry_after_s
    return JSONResponse(
        {"detail": str(exc)},
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ranking service; ``settings`` default to the ``LABKIT_SERVING_*`` environment."""
    settings = settings or get_settings()
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    app = FastAPI(
        title="ShopStream ranking service",
        summary="Scores and ranks candidate items for a user (labkit online_serving).",
        lifespan=lifespan,
        routes=router.routes,
    )
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, invalid_body)
    app.add_exception_handler(RequestRejected, rejected)
    app.add_exception_handler(Overloaded, overloaded)
    if settings.metrics:  # off: nothing is timed (and the m5 code is not needed)
        paths = [route.path for route in router.routes if isinstance(route, APIRoute)]
        app.add_middleware(RequestTimer, routes=paths)
    return app

"""The app factory: ``create_app(settings)`` builds the LLM service's FastAPI app.

    uvicorn labs.llm_serving.main:create_app --factory --host 127.0.0.1 --port 8000

    from infra.uvicorn_server import running_uvicorn
    with running_uvicorn("labs.llm_serving.main:create_app",
                         env=Settings(scheduler="static").as_env(),
                         health_path="/readyz") as server:
        httpx.post(server.url + "/generate", json={"prompt": "def ", "max_tokens": 20})

The lifespan loads the model once (``ensure_model``, in a thread so the
event loop stays free), builds the KV store the settings name, the
scheduler, the admission budget and the engine loop, and stops the loop at
shutdown. The device is chosen here, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from labs.llm_serving.admission import KVAdmission, Overloaded
from labs.llm_serving.async_engine import AsyncEngine, EngineClosed
from labs.llm_serving.checkpoint import ServedModel, ensure_model
from labs.llm_serving.kv_store import ContiguousKV, KVStore
from labs.llm_serving.metrics import EngineMetrics
from labs.llm_serving.paged_cache import PagedKVCache
from labs.llm_serving.routes import RequestRejected, router
from labs.llm_serving.scheduler import Scheduler
from labs.llm_serving.schemas import safe_errors
from labs.llm_serving.settings import Settings, get_settings

log = logging.getLogger(__name__)


def build_kv(settings: Settings, served: ServedModel) -> KVStore:
    """The KV store the settings name, sized to ``kv_cache_tokens``."""
    if settings.kv_cache_tokens < served.config.block_size:
        raise ValueError(
            f"kv_cache_tokens={settings.kv_cache_tokens} cannot hold one sequence of "
            f"the context window {served.config.block_size}; raise it."
        )
    if settings.kv_cache == "paged":
        return PagedKVCache.for_model(
            served.model,
            capacity_tokens=settings.kv_cache_tokens,
            block_size=settings.kv_block_size,
        )
    return ContiguousKV.for_model(
        served.model, capacity_tokens=settings.kv_cache_tokens
    )


def build_engine(settings: Settings, served: ServedModel) -> AsyncEngine:
    """Scheduler, admission and metrics around one model (call inside the event loop)."""
    kv = build_kv(settings, served)
    scheduler = Scheduler(
        served.model,
        served.tokenizer,
        kv,
        policy=settings.scheduler,
        max_num_seqs=settings.max_num_seqs,
        batch_wait_timeout_s=settings.batch_wait_timeout_s,
        prefix_sharing=settings.prefix_sharing,
    )
    admission = KVAdmission(kv.capacity_tokens, settings.admission_budget)
    blocks_total = kv.capacity_tokens // settings.kv_block_size
    return AsyncEngine(
        scheduler,
        admission,
        metrics=EngineMetrics(blocks_total) if settings.metrics else None,
        step_delay_s=settings.step_delay_s,
        block_tokens=settings.kv_block_size,
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model and start the engine before the first request; stop it after."""
    settings: Settings = app.state.settings
    torch.set_num_threads(settings.torch_threads)
    served = await asyncio.to_thread(
        ensure_model, settings.preset, device=settings.device
    )
    engine = build_engine(settings, served)
    engine.start()
    app.state.served, app.state.engine = served, engine
    log.info(
        "ready: %s model on %s, %s scheduler, %s cache of %d tokens",
        settings.preset,
        served.device,
        settings.scheduler,
        settings.kv_cache,
        settings.kv_cache_tokens,
    )
    try:
        yield
    finally:
        await engine.stop()


async def invalid(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the field, without echoing the input (NaN cannot be sent back)."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": safe_errors(list(exc.errors()))}, status_code=422)


async def rejected(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestRejected)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


async def unavailable(request: Request, exc: Exception) -> JSONResponse:
    retry_after = request.app.state.settings.retry_after_s
    return JSONResponse(
        {"detail": str(exc)}, status_code=503, headers={"Retry-After": str(retry_after)}
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The LLM service; ``settings`` default to the ``LABKIT_LLM_*`` environment."""
    settings = settings or get_settings()
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    app = FastAPI(
        title="ShopStream text generation",
        summary="Autocomplete and item descriptions from lab 7's GPT (labkit llm_serving).",
        lifespan=lifespan,
        # The routes are the app's own: an included router stays a layer that
        # every request walks through (22 µs a request, measured on
        # online_serving's app, whose main.py says what this gives up).
        routes=router.routes,
    )
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(RequestRejected, rejected)
    app.add_exception_handler(Overloaded, unavailable)
    app.add_exception_handler(EngineClosed, unavailable)
    return app

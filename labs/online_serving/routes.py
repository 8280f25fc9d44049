"""The HTTP routes: health, readiness, scoring, ranking, metrics and a reload.

    GET  /healthz        200 while the process runs (liveness)
    GET  /readyz         200 when a model is loaded and the store answers, else 503
    POST /score          one (user, item) pair -> its click probability
    POST /rank           a user and up to max_candidates items -> items by score
    GET  /info           what is served: model version, its features, store, batching
    GET  /metrics        Prometheus text format
    POST /admin/reload   re-resolve the model alias now (instead of waiting for the poll);
                         off unless LABKIT_SERVING_ADMIN_TOKEN is set, then it needs
                         "Authorization: Bearer <token>"

The scoring routes are ``async def`` and never block: validation is a few
array lookups, and the work (store read, model) happens off the event loop
in ``Scorer``. Each answer carries ``X-Model-Version``, ``X-Batch-Size``
(requests scored together) and, with metrics on, a ``Server-Timing`` header
with the time the request spent in each stage (ms), so ``curl -v`` shows the
latency budget of one request and ``/metrics`` the budget of many.

The JSON is written here with ``json.dumps`` rather than through FastAPI's
response-model validation: the body is built from values the service made
itself, and the timed ``serialise`` stage is then exactly this.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from labs.online_serving.deps import AdminOnly, ModelDep, ServiceDep, SettingsDep
from labs.online_serving.metrics import ServiceMetrics
from labs.online_serving.schemas import (
    InvalidRequest,
    RankRequest,
    RankResponse,
    Readiness,
    Refusal,
    Reloaded,
    ScoreRequest,
    ScoreResponse,
)
from labs.online_serving.scoring import Job, Scored, rank_order
from labs.online_serving.service import Service

router = APIRouter()

# What the scoring routes answer besides 200; the OpenAPI schema says the same.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Refusal, "description": "The body is not text (invalid UTF-8)"},
    404: {"model": InvalidRequest, "description": "Unknown user (loc: user_id)"},
    422: {
        "model": InvalidRequest,
        "description": (
            "Invalid body, each entry naming its field: not JSON, a missing or "
            'extra field, a wrong type (ids are strict integers: 7.0 and "7" '
            "are refused), NaN or Infinity, an empty list, more than "
            "max_candidates items, or an unknown item"
        ),
    },
    503: {
        "model": Refusal,
        "description": "Queue full or shutting down: retry after Retry-After seconds",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "integer"},
            }
        },
    },
}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process is up and its event loop answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: see reason"}},
)
async def readyz(service: ServiceDep) -> JSONResponse:
    """Readiness: send traffic here (model loaded, store answering, not closing)."""
    ready, detail = await service.readiness()
    body = {"status": "ready" if ready else "not ready", **detail}
    body["pending"] = service.pending  # admitted requests not yet answered
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/info")
async def info(model: ModelDep, settings: SettingsDep) -> dict[str, Any]:
    """What this process serves: enough to reproduce any of its answers.

    The store is named by its backend only: a file path or a URL (which may
    carry a password) tells a client nothing it needs and an attacker a lot.
    """
    return {
        "model_version": model.version,
        "model_alias": settings.model_alias,
        "features": model.metadata["features"],
        "data_fingerprint": model.metadata.get("data_fingerprint"),
        "store": settings.store_backend,
        "max_batch_size": settings.max_batch_size,
        "batch_wait_timeout_s": settings.batch_wait_timeout_s,
        "max_candidates": settings.max_candidates,
    }


def hot_service(request: Request) -> Service:
    """The service, for the two scoring routes: without a FastAPI dependency.

    Resolving ``ServiceDep`` costs about 10 µs a request (FastAPI inspects
    and calls the provider every time): 7% of what batched ``/score`` costs
    in the app. The other routes are not on the hot path and keep it.
    """
    return request.app.state.service  # type: ignore[no-any-return]


@router.post("/score", response_model=ScoreResponse, responses=ERRORS)
async def score(body: ScoreRequest, request: Request) -> Response:
    """The click probability of one (user, item) pair."""
    entered = time.perf_counter()
    service = hot_service(request)
    service.check_request(body.user_id, [body.item_id], field="item_id")
    job = Job(body.user_id, np.array([body.item_id], dtype=np.int64))
    scored = await service.submit(job)
    answered = time.perf_counter()
    content = json.dumps(
        {
            "user_id": body.user_id,
            "item_id": body.item_id,
            "score": float(scored.scores[0]),
            "model_version": scored.model_version,
            "fallback": scored.fallback,
        }
    )
    return respond(request, service, content, scored, entered, answered)


@router.post("/rank", response_model=RankResponse, responses=ERRORS)
async def rank(body: RankRequest, request: Request) -> Response:
    """The candidates ordered by click probability, highest first."""
    entered = time.perf_counter()
    service = hot_service(request)
    service.check_request(body.user_id, body.item_ids, field="item_ids")
    items = np.array(body.item_ids, dtype=np.int64)
    scored = await service.submit(Job(body.user_id, items))
    answered = time.perf_counter()
    order = rank_order(scored.scores)
    ranked = zip(items[order].tolist(), scored.scores[order].tolist(), strict=True)
    content = json.dumps(
        {
            "user_id": body.user_id,
            "items": [{"item_id": i, "score": s} for i, s in ranked],
            "model_version": scored.model_version,
            "fallback": scored.fallback,
        }
    )
    return respond(request, service, content, scored, entered, answered)


def respond(
    request: Request,
    service: Service,
    content: str,
    scored: Scored,
    entered: float,
    answered: float,
) -> Response:
    """The JSON response with its headers; records the request's stage timings."""
    stages = service.metrics.observe_stages(request.scope, entered, scored, answered)
    headers = {
        "x-model-version": scored.model_version,
        "x-batch-size": str(scored.batch_size),
    }
    if stages:  # metrics on: the same stages, for `curl -v`
        headers["server-timing"] = ", ".join(
            f"{name};dur={s * 1e3:.3f}" for name, s in stages.items()
        )
    return Response(content, media_type="application/json", headers=headers)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {"description": "Prometheus' text exposition format"},
        404: {  # JSON like every other refusal (Refusal's schema is shared)
            "description": "Metrics are off",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}
            },
        },
    },
)
async def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics (404 when ``LABKIT_SERVING_METRICS=false``)."""
    if not isinstance(service.metrics, ServiceMetrics):
        return JSONResponse(
            {"detail": "metrics are off; start with LABKIT_SERVING_METRICS=true."},
            status_code=404,
        )
    return Response(service.metrics.render(), media_type=service.metrics.content_type)


@router.post(
    "/admin/reload",
    dependencies=[AdminOnly],
    response_model=Reloaded,
    responses={
        401: {"model": Refusal, "description": "No bearer token"},
        403: {"model": Refusal, "description": "Wrong admin token"},
        404: {"model": Refusal, "description": "Admin routes are off: no token set"},
    },
)
async def reload_model(service: ServiceDep) -> dict[str, Any]:
    """Re-resolve the model alias now; the swap happens off the request path."""
    swapped = await service.reload_model()
    return {"model_version": service.models.version, "swapped": swapped}

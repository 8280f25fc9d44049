"""The HTTP routes: health, readiness, generation (streamed or not), info and metrics.

    GET  /healthz     200 while the process runs (liveness)
    GET  /readyz      200 when the model is loaded and the engine loop runs, else 503
    POST /generate    continue a prompt; ``"stream": true`` answers as server-sent events
    GET  /info        the model, its KV bytes per token, the cache and the engine's knobs
    GET  /metrics     Prometheus text format

A streamed answer is a ``text/event-stream`` (``sse-starlette``): a
``token`` event per token as soon as its engine step ends, then a ``done``
event with the finish reason, the token counts and the request's TTFT. When
the client disconnects, ``sse-starlette`` cancels the generator below, and
``AsyncEngine.stream`` aborts the sequence so its blocks are freed at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from labs.llm_serving.async_engine import AsyncEngine, RequestHandle
from labs.llm_serving.checkpoint import ServedModel
from labs.llm_serving.deps import EngineDep, ServedDep, SettingsDep
from labs.llm_serving.schemas import (
    GenerateRequest,
    GenerateResponse,
    error_detail,
)
from labs.llm_serving.settings import Settings
from labs.transformer.model import parameter_count

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid body: the detail names the field"},
    503: {
        "description": "KV-cache budget spent (retry after Retry-After) or shutting down"
    },
}


class RequestRejected(Exception):
    """A request the service refuses, with the status and the FastAPI-shaped detail."""

    def __init__(self, status: int, detail: list[dict[str, Any]]):
        super().__init__(detail)
        self.status, self.detail = status, detail


def check_request(
    body: GenerateRequest, served: ServedModel, settings: Settings
) -> list[int]:
    """The prompt's token ids, after the checks that depend on the model; else 422."""
    window = served.config.block_size
    vocab = set(served.tokenizer.chars)
    problems: list[dict[str, Any]] = []
    # BEGIN SOLUTION m4: one error_detail per problem, naming the field: characters outside the vocabulary, or a prompt that leaves no room in the window ('prompt'); max_tokens over settings.max_tokens_limit, or prompt + max_tokens past the window ('max_tokens'); top_k over the vocabulary ('top_k')
    unknown = sorted(set(body.prompt) - vocab)
    if unknown:
        problems.append(
            error_detail(
                "prompt",
                f"characters {unknown[:10]} are not in the model's vocabulary of "
                f"{len(vocab)} characters; remove or replace them.",
                "unknown_characters",
            )
        )
    elif len(body.prompt) >= window:
        problems.append(
            error_detail(
                "prompt",
                f"the prompt has {len(body.prompt)} characters; the context window is "
                f"{window}, so at most {window - 1} leave room for an answer.",
                "prompt_too_long",
            )
        )
    if body.max_tokens > settings.max_tokens_limit:
        problems.append(
            error_detail(
                "max_tokens",
                f"max_tokens is {body.max_tokens}; this service generates at most "
                f"{settings.max_tokens_limit} per request.",
                "max_tokens_too_large",
            )
        )
    elif not problems and len(body.prompt) + body.max_tokens > window:
        problems.append(
            error_detail(
                "max_tokens",
                f"{len(body.prompt)} prompt + {body.max_tokens} new tokens exceed the "
                f"context window {window}; ask for at most {window - len(body.prompt)}.",
                "context_window_exceeded",
            )
        )
    if body.top_k is not None and body.top_k > len(vocab):
        problems.append(
            error_detail(
                "top_k",
                f"top_k is {body.top_k} but the vocabulary has {len(vocab)} tokens.",
                "top_k_too_large",
            )
        )
    # END SOLUTION
    if problems:
        raise RequestRejected(422, problems)
    return served.tokenizer.encode(body.prompt).tolist()


def _summary(handle: RequestHandle, finish_reason: str) -> dict[str, Any]:
    done = handle.last_token_at or time.monotonic()
    return {
        "finish_reason": finish_reason,
        "usage": {
            "prompt_tokens": handle.seq.prompt_len,
            "completion_tokens": handle.seq.num_output,
        },
        "timing": {"ttft_s": handle.ttft_s or 0.0, "e2e_s": done - handle.arrival},
    }


async def sse_events(
    engine: AsyncEngine, handle: RequestHandle
) -> AsyncIterator[dict[str, str]]:
    """One ``token`` event per token, then ``done``."""
    async for event in engine.stream(handle):
        if event.token >= 0:
            data = {"text": event.text, "token": event.token, "logprob": event.logprob}
            yield {"event": "token", "data": json.dumps(data)}
        if event.finished:
            summary = _summary(handle, event.finish_reason or "length")
            yield {"event": "done", "data": json.dumps(summary)}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process is up and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(engine: EngineDep) -> JSONResponse:
    """Readiness: the model is loaded and the engine loop is alive."""
    if engine.crashed is not None:
        body = {"status": "not ready", "reason": f"engine crashed: {engine.crashed!r}"}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "in_flight": engine.in_flight})


@router.post("/generate", response_model=GenerateResponse, responses=ERRORS)
async def generate(
    body: GenerateRequest, engine: EngineDep, served: ServedDep, settings: SettingsDep
) -> Response:
    """Continue the prompt; streamed as server-sent events when ``stream`` is true."""
    prompt_ids = check_request(body, served, settings)
    handle = engine.submit(
        body.prompt, prompt_ids, body.sampling()
    )  # 503 if over budget
    if body.stream:
        return EventSourceResponse(sse_events(engine, handle), ping=settings.sse_ping_s)
    reason = "length"
    async for event in engine.stream(handle):
        reason = event.finish_reason or reason
    if reason == "error":
        return JSONResponse({"detail": "the engine failed; see the server log."}, 500)
    content = {"text": handle.seq.text, **_summary(handle, reason)}
    return JSONResponse(content)


@router.get("/info")
async def info(
    served: ServedDep, engine: EngineDep, settings: SettingsDep
) -> dict[str, Any]:
    """What this process serves and how its cache is sized."""
    config, kv = served.config, engine.scheduler.kv
    return {
        "model": {
            "preset": settings.preset,
            "fingerprint": served.fingerprint,
            "parameters": parameter_count(config),
            "n_layer": config.n_layer,
            "n_head": config.n_head,
            "n_embd": config.n_embd,
            "context_window": config.block_size,
            "vocab_size": config.vocab_size,
            "device": str(served.device),
        },
        "kv_cache": {
            "kind": settings.kv_cache,
            "capacity_tokens": kv.capacity_tokens,
            "bytes_per_token": kv.bytes_per_token,
            "block_size": settings.kv_block_size,
        },
        "scheduler": settings.scheduler,
        "max_num_seqs": settings.max_num_seqs,
        "admission_budget": settings.admission_budget,
        "max_tokens_limit": settings.max_tokens_limit,
    }


@router.get("/metrics")
async def metrics(engine: EngineDep) -> Response:
    """Prometheus metrics (404 when ``LABKIT_LLM_METRICS=false``)."""
    if engine.metrics is None:
        return JSONResponse(
            {"detail": "metrics are off; start with LABKIT_LLM_METRICS=true."},
            status_code=404,
        )
    return Response(engine.metrics.render(), media_type=engine.metrics.content_type)

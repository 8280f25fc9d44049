"""Request and response bodies of the ranking service, and its error shape.

    POST /score  {"user_id": 7, "item_id": 42}
              -> {"user_id": 7, "item_id": 42, "score": 0.031, "model_version": "v0001",
                  "fallback": false}
    POST /rank   {"user_id": 7, "item_ids": [42, 3, 99]}
              -> {"user_id": 7, "items": [{"item_id": 3, "score": 0.08}, ...],
                  "model_version": "v0001", "fallback": false}

Types are strict: ``"7"`` or ``7.0`` is not a user id, and an id outside
``0 ≤ id ≤ MAX_ID`` is refused before it reaches numpy (where it would
overflow int64 and turn a client's mistake into a 500). Every refusal has
FastAPI's shape, so a client reads one format: ``{"detail": [{"loc": ["body",
"item_ids"], "msg": "...", "type": "..."}]}``; ``loc`` names the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2**53  # ids are exact in a JSON double and fit int64 with room to spare

Id = Annotated[
    int,
    Field(
        strict=True,
        ge=0,
        le=MAX_ID,
        description=(
            "A non-negative integer written without a fraction or an exponent: "
            'strict, so 7.0, 7e0 and "7" are refused with a 422.'
        ),
    ),
]


class ScoreRequest(BaseModel):
    """One (user, item) pair: the workload where dynamic batching matters most."""

    model_config = ConfigDict(extra="forbid")

    user_id: Id
    item_id: Id


class RankRequest(BaseModel):
    """A user and the candidate items to order (at most ``max_candidates``)."""

    model_config = ConfigDict(extra="forbid")

    user_id: Id
    item_ids: list[Id] = Field(min_length=1)


class ScoredItem(BaseModel):
    item_id: int
    score: float


class ScoreResponse(BaseModel):
    user_id: int
    item_id: int
    score: float  # click probability (or the item's popularity, if fallback)
    model_version: str  # the registry version that scored it
    fallback: bool  # True: the store was slow or down, popularity answered


class RankResponse(BaseModel):
    user_id: int
    items: list[ScoredItem]  # highest score first; ties keep the request order
    model_version: str
    fallback: bool


class ErrorEntry(BaseModel):
    """One refusal: ``loc`` names the field (``["body", "item_ids", 1]``)."""

    model_config = ConfigDict(extra="allow")  # FastAPI adds "ctx" for some errors

    loc: list[str | int]
    msg: str  # what was wrong and what to send instead
    type: str  # a machine-readable kind: "int_type", "unknown_user", ...
    input: Any = None  # the refused value (a NaN or an infinity as text)


class InvalidRequest(BaseModel):
    """A 404 or 422 body: FastAPI's validation-error shape, one entry per problem."""

    detail: list[ErrorEntry]


class Refusal(BaseModel):
    """A 400, 401, 403, 503 (or 404 of a route that is off): one sentence."""

    detail: str


class Readiness(BaseModel):
    """``/readyz``'s body, 200 when ready, else 503 with the reason."""

    model_config = ConfigDict(extra="allow")

    status: str  # "ready" or "not ready"
    model_version: str | None
    pending: int  # admitted requests not yet answered
    reason: str | None = None  # why not ready


class Reloaded(BaseModel):
    model_version: str
    swapped: bool  # False: the alias still names the served version


def error_detail(field: str, message: str, kind: str, value: Any = None) -> dict:
    """One entry of a 4xx body, shaped like FastAPI's validation errors."""
    entry: dict[str, Any] = {"loc": ["body", field], "msg": message, "type": kind}
    if value is not None:
        entry["input"] = value
    return entry

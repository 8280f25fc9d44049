"""Request and response bodies of the LLM service, and its error shape.

    POST /generate {"prompt": "def ", "max_tokens": 40, "temperature": 0.8,
                    "top_k": 20, "top_p": 0.95, "seed": 7, "stop": ["\\n\\n"],
                    "stream": true}
      stream=false -> {"text": "...", "finish_reason": "length", "usage": {...},
                       "timing": {"ttft_s": 0.004, "e2e_s": 0.21}}
      stream=true  -> text/event-stream: one ``token`` event per token
                      (data {"text": "x", "token": 17, "logprob": -0.4}), then
                      one ``done`` event (data {"finish_reason", "usage", "timing"})

Types are strict (``"40"`` is not a number of tokens) and every number must
be finite: ``NaN``, ``Infinity`` and ``1e400`` (which Python's JSON parser
reads as infinity) are refused with a 422 that names the field, never
echoed back (a JSON body cannot carry them, so echoing them is a 500).
Limits that depend on the model (the context window, the vocabulary) are
checked by the route, with the same error shape: ``{"detail": [{"loc":
["body", "max_tokens"], "msg": "...", "type": "..."}]}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from labs.llm_serving.sampling import MAX_STOP_STRINGS, SamplingParams

MAX_PROMPT_CHARS = 100_000  # refused before tokenising; the window is far smaller
MAX_STOP_CHARS = 32
MAX_SEED = 2**63 - 1
MAX_TEMPERATURE = 10.0

Finite = Annotated[float, Field(allow_inf_nan=False)]
StopString = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_STOP_CHARS)]


class GenerateRequest(BaseModel):
    """One prompt to continue, and how."""

    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[
        str, Field(strict=True, min_length=1, max_length=MAX_PROMPT_CHARS)
    ]
    max_tokens: Annotated[int, Field(strict=True, ge=1)] = 32
    temperature: Annotated[Finite, Field(ge=0.0, le=MAX_TEMPERATURE)] = 1.0
    top_k: Annotated[int, Field(strict=True, ge=1)] | None = None
    top_p: Annotated[Finite, Field(gt=0.0, le=1.0)] = 1.0
    seed: Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)] | None = None
    stop: Annotated[list[StopString], Field(max_length=MAX_STOP_STRINGS)] = []
    stream: Annotated[bool, Field(strict=True)] = False

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            seed=self.seed,
            stop=tuple(self.stop),
        )


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class Timing(BaseModel):
    ttft_s: float  # arrival at the service -> first token
    e2e_s: float  # arrival -> last token


class GenerateResponse(BaseModel):
    text: str
    finish_reason: str  # length | stop
    usage: Usage
    timing: Timing


def error_detail(field: str, message: str, kind: str) -> dict[str, Any]:
    """One entry of a 4xx body, shaped like FastAPI's validation errors."""
    return {"loc": ["body", field], "msg": message, "type": kind}


def safe_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors without the offending input (which may be NaN or huge)."""
    return [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": e.get("type"),
        }
        for e in errors
    ]

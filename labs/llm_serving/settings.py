"""The LLM service's settings: one ``BaseSettings``, read from ``LABKIT_LLM_*`` variables.

    LABKIT_LLM_SCHEDULER=static LABKIT_LLM_KV_CACHE=contiguous \\
        uvicorn labs.llm_serving.main:create_app --factory --port 8000

Tests and the lab start the server as a subprocess and pass settings as
environment variables (``Settings(...).as_env()``); in-process code calls
``create_app(Settings(...))``. ``get_settings()`` is cached, so a process
reads its environment once.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "LABKIT_LLM_"


class Settings(BaseSettings):
    """Every knob of the LLM service, with the reason it exists."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    # --- what is served -------------------------------------------------------------
    preset: Literal["tiny", "small"] = "tiny"  # the model (checkpoint.py)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # chosen once, at start-up

    # --- the engine -------------------------------------------------------------------
    scheduler: Literal["continuous", "static"] = "continuous"  # batching policy
    kv_cache: Literal["paged", "contiguous"] = "paged"  # memory manager
    kv_cache_tokens: int = Field(2048, ge=16)  # the KV memory budget, in token slots
    kv_block_size: int = Field(16, ge=1)  # slots per block (paged; /metrics' unit)
    max_num_seqs: int = Field(16, ge=1)  # sequences in one forward pass at most
    batch_wait_timeout_s: float = Field(0.05, ge=0)  # static: wait this long to fill
    prefix_sharing: bool = False  # map shared prompt prefixes to the same blocks

    # --- admission and requests ---------------------------------------------------------
    admission_budget: float = Field(2.0, gt=0)  # admitted cost <= this × cache
    retry_after_s: int = Field(1, ge=0)  # the Retry-After a refused request is told
    max_tokens_limit: int = Field(256, ge=1)  # the most tokens one request may ask
    sse_ping_s: float = Field(15.0, gt=0)  # keep-alive comments on a quiet stream

    # --- observability and chaos ----------------------------------------------------------
    metrics: bool = True  # Prometheus metrics at /metrics
    step_delay_s: float = Field(0.0, ge=0)  # chaos: sleep added to every engine step

    # --- the process --------------------------------------------------------------------
    torch_threads: int = Field(
        1, ge=1
    )  # intra-op threads; 1 leaves a core to the client

    def as_env(self) -> dict[str, str]:
        """These settings as ``LABKIT_LLM_*`` variables (for a subprocess)."""
        return {
            ENV_PREFIX + name.upper(): str(value)
            for name, value in self.model_dump(exclude_none=True).items()
        }


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()

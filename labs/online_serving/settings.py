"""The service's settings: one ``BaseSettings``, read from ``LABKIT_SERVING_*`` variables.

    LABKIT_SERVING_PRESET=small LABKIT_SERVING_MAX_BATCH_SIZE=32 \\
        uvicorn labs.online_serving.main:create_app --factory --port 8000

Tests and the lab start the server as a subprocess and pass settings as
environment variables (``Settings(...).as_env()``); in-process code calls
``create_app(Settings(...))``. ``get_settings()`` is cached, so a process
reads its environment once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "LABKIT_SERVING_"


class Settings(BaseSettings):
    """Every knob of the ranking service, with the reason it exists."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    # --- what is served -------------------------------------------------------------
    preset: str = "tiny"  # ShopStream preset: the store, the catalogue and the model
    seed: int = 0  # dataset seed
    store_backend: Literal["sqlite", "redis", "memory"] = "sqlite"  # online store
    store_url: str | None = None  # redis://127.0.0.1:<port>/0 for the redis backend
    registry_root: Path | None = (
        None  # model registry; data/registry/<preset>-seed<seed>
    )
    model_alias: str = "production"  # the alias served and watched for hot swaps
    model_poll_s: float = Field(1.0, ge=0)  # re-resolve the alias this often; 0 = never

    # --- requests -----------------------------------------------------------------
    max_candidates: int = Field(200, ge=1)  # items one /rank may score

    # --- dynamic batching ---------------------------------------------------------
    max_batch_size: int = Field(32, ge=1)  # requests per model call; 1 = batching off
    batch_wait_timeout_s: float = Field(
        0.001, ge=0
    )  # longest a request waits for company

    # --- resilience ---------------------------------------------------------------
    max_queue_size: int = Field(
        256, ge=0
    )  # admitted, unanswered requests; 0 = unbounded
    retry_after_s: int = Field(1, ge=0)  # the Retry-After a shed request is told
    feature_timeout_s: float = Field(0.05, ge=0)  # then popularity answers; 0 = wait
    feature_threads: int = Field(2, ge=1)  # store reads at once; all stuck: fall back
    shutdown_grace_s: float = Field(10.0, ge=0)  # wait this long for admitted requests
    feature_delay_s: float = Field(0.0, ge=0)  # chaos: sleep added to every store read

    # --- administration ------------------------------------------------------------
    # POST /admin/reload needs "Authorization: Bearer <this>"; unset, admin routes
    # answer 404. Kept out of repr (and so out of logs and tracebacks).
    admin_token: str | None = Field(None, repr=False)

    # --- observability -------------------------------------------------------------
    metrics: bool = True  # Prometheus metrics at /metrics (off: nothing recorded)

    # --- the process --------------------------------------------------------------
    torch_threads: int = Field(
        1, ge=1
    )  # intra-op threads; 1 leaves a core to the client

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 1

    def as_env(self) -> dict[str, str]:
        """These settings as ``LABKIT_SERVING_*`` variables (for a subprocess)."""
        env = {}
        for name, value in self.model_dump(exclude_none=True).items():
            env[ENV_PREFIX + name.upper()] = str(value)
        return env


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()

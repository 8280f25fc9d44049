"""Fixtures for the LLM-serving lab: the trained tiny model, oracles, and real servers.

- ``served``: lab 7's GPT trained at the ``tiny`` size (``ensure_model``:
  trained once, about ten seconds, then loaded from ``data/``), on the CPU.
- ``model64``: the same weights in float64, for the tests that compare two
  computations token for token: batched and solo arithmetic then differ by
  ~1e-16, so a greedy tie can never flip a token by chance.
- ``servers``: uvicorn servers of the service on 127.0.0.1, one per distinct
  settings, shared by the session and all stopped at its end.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from infra.uvicorn_server import ServerDidNotStart, UvicornServer, start_uvicorn

APP = "labs.llm_serving.main:create_app"


@pytest.fixture(scope="session")
def served() -> Any:
    from labs.llm_serving import ensure_model

    torch.set_num_threads(1)
    return ensure_model("tiny", device="cpu")


@pytest.fixture(scope="session")
def tokenizer(served: Any) -> Any:
    return served.tokenizer


@pytest.fixture(scope="session")
def model64(served: Any) -> Any:
    return copy.deepcopy(served.model).double()


class Servers:
    """Servers keyed by their settings; started on demand, stopped at the end."""

    def __init__(self) -> None:
        self._running: dict[frozenset, UvicornServer] = {}
        self._failed: dict[frozenset, str] = {}

    def get(self, settings: Any) -> UvicornServer:
        key = frozenset(settings.as_env().items())
        if key not in self._running and key not in self._failed:
            try:
                self._running[key] = start_uvicorn(
                    APP, env=settings.as_env(), health_path="/readyz", timeout_s=120
                )
            except ServerDidNotStart as exc:
                self._failed[key] = f"the service did not start:\n{exc}"
        if key in self._failed:
            pytest.fail(self._failed[key], pytrace=False)
        return self._running[key]

    def stop_all(self) -> None:
        for server in self._running.values():
            server.stop()
        self._running.clear()


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    pool = Servers()
    try:
        yield pool
    finally:
        pool.stop_all()


def service_settings(**overrides: Any) -> Any:
    """The settings the service tests share: a small paged cache, slowed steps."""
    from labs.llm_serving import Settings

    values: dict[str, Any] = {
        "preset": "tiny",
        "device": "cpu",
        "kv_cache": "paged",
        "kv_cache_tokens": 256,  # 16 blocks of 16
        "kv_block_size": 16,
        "admission_budget": 1.0,
        "max_num_seqs": 8,
        "step_delay_s": 0.02,  # every step takes >= 20 ms: timings are visible
        "retry_after_s": 2,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def service(servers: Servers, served: Any) -> UvicornServer:
    # ``served`` first: on a fresh machine the model is trained (once, under a
    # file lock) by this process, and the server then only loads it.
    return servers.get(service_settings())

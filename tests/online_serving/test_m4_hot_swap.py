"""m4 — hot swap: the alias is re-resolved and a new version swapped in, never restarted.

``ModelHolder.refresh`` in process, against a registry that is slow on
purpose: the event loop keeps running while a version loads, and a poll that
finds the same version loads nothing. Then a real promotion in the middle of
a load run on a uvicorn server: no request fails, both versions answer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from serving_helpers import bounded

from infra.loadgen import run_load

SLOW_S = 0.4  # what the slow registry takes to resolve, and again to load


class SlowRegistry:
    """A registry whose alias names ``version``; resolving and loading block."""

    def __init__(self, model: Any, version: str):
        self.model = model
        self.version = version
        self.resolved = 0
        self.loaded: list[str] = []

    def resolve(self, alias: str) -> str:
        time.sleep(SLOW_S)
        self.resolved += 1
        return self.version

    def load(self, ref: str) -> Any:
        time.sleep(SLOW_S)
        self.loaded.append(ref)
        self.model.version = ref
        return self.model


@pytest.fixture
def fresh_model(registry_root) -> Any:
    """A model of its own (the tests rename its version)."""
    from labs.training import ModelRegistry

    return ModelRegistry(registry_root).load("production")


async def longest_stall(work: Any) -> tuple[Any, float]:
    """Run ``work`` while a ticker measures the longest the event loop was blocked."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        result = await bounded(work, "the end of the refresh")
    finally:
        done.set()
        await ticking
    return result, max(gaps, default=0.0)


def test_a_refresh_loads_the_new_version_off_the_event_loop(fresh_model) -> None:
    from labs.online_serving import ModelHolder

    registry = SlowRegistry(fresh_model, "v-new")
    holder = ModelHolder(registry, "production")  # type: ignore[arg-type]
    old = type("Old", (), {"version": "v-old"})()
    holder.current = old

    swapped, stall = asyncio.run(longest_stall(holder.refresh()))
    assert swapped is True and holder.current is fresh_model, holder.current
    assert holder.version == "v-new" and holder.swaps == 1
    assert registry.loaded == ["v-new"]
    assert stall < SLOW_S * 0.5, (
        f"the event loop stood still for {stall:.2f} s during a refresh: resolve and "
        "load in a thread (asyncio.to_thread), or every request waits for the load"
    )


def test_a_poll_that_finds_the_same_version_loads_nothing(fresh_model) -> None:
    from labs.online_serving import ModelHolder

    registry = SlowRegistry(fresh_model, "v-same")
    holder = ModelHolder(registry, "production")  # type: ignore[arg-type]
    fresh_model.version = "v-same"
    holder.current = fresh_model

    async def three_polls() -> list[bool]:
        return [await holder.refresh() for _ in range(3)]

    assert asyncio.run(three_polls()) == [False, False, False]
    assert registry.loaded == [], (
        f"loaded {registry.loaded} although the alias still names the served version"
    )
    assert registry.resolved == 3 and holder.swaps == 0
    assert holder.current is fresh_model


@pytest.mark.server
def test_hot_swap_under_load_fails_no_request(
    swap_server, swap_registry, offline
) -> None:
    from labs.training import ModelRegistry

    registry = ModelRegistry(swap_registry["root"])
    old_version, new_version = swap_registry["old"], swap_registry["new"]
    server = swap_server
    outcome: dict = {}

    def load() -> None:
        outcome["result"] = run_load(
            server.url,
            "/score",
            [{"user_id": k % 1000, "item_id": (7 * k) % 1000} for k in range(300)],
            concurrency=8,
            duration_s=1.5,
            max_requests=100_000,
            count_header="x-model-version",
        )

    runner = threading.Thread(target=load)
    runner.start()
    time.sleep(0.6)
    registry.promote(new_version, "production")
    runner.join(timeout=60)
    assert "result" in outcome, "the load run never finished"
    result = outcome["result"]
    assert result.failed == 0, result.failures
    versions = result.header_counts
    assert versions.get(old_version, 0) > 0 and versions.get(new_version, 0) > 0, (
        versions
    )
    body = httpx.post(server.url + "/score", json={"user_id": 12, "item_id": 34}).json()
    assert body["model_version"] == new_version
    assert body["score"] == float(offline(registry.load(new_version), 12, [34])[0])

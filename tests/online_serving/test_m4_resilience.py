"""m4 — resilience: timeouts with a fallback, load shedding, hot swap, graceful shutdown.

Each behaviour is provoked for real: a store slowed on purpose
(``feature_delay_s``), more concurrent clients than the queue admits, a
promotion in the registry during a load run, SIGTERM with requests in flight.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from serving_contract import check_scores
from serving_helpers import settings_for, settle

from infra.loadgen import run_load
from infra.redis_server import RedisServer, redis_binary, start_redis

pytestmark = pytest.mark.server

SLOW_STORE_S = 1.0  # the chaos delay of every store read
TIMEOUT_S = 0.05


@pytest.fixture(scope="module")
def swap_registry(tmp_path_factory, registry_root) -> dict:
    """A registry copy with a second, visibly different version, not yet promoted."""
    import torch

    from labs.training import ModelRegistry

    root = tmp_path_factory.mktemp("swap") / "registry"
    shutil.copytree(registry_root, root)
    registry = ModelRegistry(root)
    old_version = registry.resolve("production")
    new = registry.load("production")
    with torch.no_grad():
        new.model.mlp[-1].bias += 1.0  # a visibly different model
    new_version = registry.register(new, new.metadata)
    return {"root": root, "old": old_version, "new": new_version}


def swap_settings(swap_registry: dict) -> Any:
    return settings_for(
        4,
        swap_registry["root"],
        model_poll_s=0.2,
        max_batch_size=16,
        feature_timeout_s=5.0,
    )


def sigterm_settings(registry_root) -> Any:
    return settings_for(
        4,
        registry_root,
        feature_delay_s=1.5,
        feature_timeout_s=0,
        max_batch_size=8,
        batch_wait_timeout_s=0,
    )


def redis_settings(registry_root, redis: RedisServer) -> Any:
    return settings_for(
        4,
        registry_root,
        store_backend="redis",
        store_url=redis.url,
        feature_timeout_s=1.0,
    )


@pytest.fixture(scope="module")
def doomed_redis() -> Iterator[RedisServer | None]:
    """A private Redis server that a test stops on purpose (None without the binary)."""
    if redis_binary() is None:
        yield None  # the test that needs it skips (redis_available)
        return
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def urls(servers, registry_root, swap_registry, doomed_redis) -> dict[str, str]:
    # The private servers of the later tests start in the background meanwhile.
    private = [swap_settings(swap_registry), sigterm_settings(registry_root)]
    if doomed_redis is not None:
        private.append(redis_settings(registry_root, doomed_redis))
    servers.prestart(*private, private=True)
    slow, shedding = servers.get_many(
        settings_for(
            4,
            registry_root,
            feature_delay_s=SLOW_STORE_S,
            feature_timeout_s=TIMEOUT_S,
            feature_threads=2,
        ),
        settings_for(
            4,
            registry_root,
            max_batch_size=1,
            max_queue_size=2,
            retry_after_s=3,
            feature_delay_s=0.02,
            feature_timeout_s=1.0,
        ),
    )
    return {"slow": slow.url, "shedding": shedding.url}


def popularity(store, model, items: list[int]) -> np.ndarray:
    """Each item's ctr_7d as the online store holds it (null: the model's fill)."""
    batch = store.online.scan("item_stats")
    column = list(batch.features).index("ctr_7d")
    by_item = dict(zip(map(int, batch.keys), batch.values[:, column], strict=True))
    fill = model.metadata["defaults"]["item_stats:ctr_7d"]
    values = np.array([by_item.get(i, np.nan) for i in items])
    return np.where(np.isnan(values), fill, values)


def test_a_slow_store_is_answered_from_popularity_in_time(urls, store, model) -> None:
    items = [3, 14, 15, 92, 65, 35, 89, 79]
    began = time.perf_counter()
    response = httpx.post(
        urls["slow"] + "/rank", json={"user_id": 7, "item_ids": items}
    )
    elapsed = time.perf_counter() - began
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fallback"] is True, body
    assert body["model_version"] == model.version
    assert elapsed < SLOW_STORE_S * 0.8, f"waited {elapsed:.2f} s for a slow store"
    want = dict(zip(items, popularity(store, model, items), strict=True))
    assert [(r["item_id"], r["score"]) for r in body["items"]] == sorted(
        want.items(), key=lambda kv: -kv[1]
    )


def test_stuck_reads_do_not_pile_up(urls) -> None:
    """More concurrent requests than feature threads: all answered, none waits for the store."""

    async def burst():
        async with httpx.AsyncClient(base_url=urls["slow"], timeout=10) as client:

            async def one(k: int) -> tuple[float, httpx.Response]:
                began = time.perf_counter()
                response = await client.post(
                    "/score", json={"user_id": k, "item_id": k}
                )
                return time.perf_counter() - began, response

            return await asyncio.gather(*(one(k) for k in range(12)))

    for _ in range(2):  # the second burst finds the readers still stuck in the first
        results = asyncio.run(burst())
        for elapsed, response in results:
            assert response.status_code == 200, response.text
            assert response.json()["fallback"] is True
            assert elapsed < SLOW_STORE_S * 0.8, f"a request waited {elapsed:.2f} s"


def make_scorer(read_s: float, timeout_s: float, threads: int = 2) -> Any:
    """A Scorer whose store read only sleeps ``read_s`` (in a feature thread)."""
    from labs.online_serving import NullMetrics, Scorer, Settings

    settings = Settings(feature_timeout_s=timeout_s, feature_threads=threads)
    scorer = Scorer(None, None, None, settings, NullMetrics())  # type: ignore[arg-type]

    def read(users, items, model):
        time.sleep(read_s)
        return {"rows": len(users)}

    scorer._read = read  # type: ignore[method-assign]
    return scorer


def test_healthy_reads_wait_their_turn_and_stuck_readers_fail_fast() -> None:
    """The bulkhead refuses reads only while every reader is stuck past its timeout."""
    from labs.online_serving import FeatureUnavailable

    rows = np.arange(3)

    async def outcomes(scorer, n: int) -> list:
        async def one():
            began = time.perf_counter()
            try:
                result = await scorer.guarded_read(rows, rows, None)
            except FeatureUnavailable as exc:
                result = exc.reason
            return result, time.perf_counter() - began

        return await asyncio.gather(*(one() for _ in range(n)))

    healthy = make_scorer(read_s=0.02, timeout_s=5.0)
    try:  # 8 reads at once on 2 threads: they queue, and every one is answered
        got = asyncio.run(outcomes(healthy, 8))
        assert [r for r, _ in got] == [{"rows": 3}] * 8, got
    finally:
        healthy.close()

    stuck = make_scorer(read_s=1.0, timeout_s=0.05)
    try:
        first = asyncio.run(outcomes(stuck, 6))  # 2 start and hang, 4 wait
        assert [r for r, _ in first] == ["timeout"] * 6, first
        assert stuck.reads_overdue == 2  # the 4 that never started were cancelled
        then = asyncio.run(outcomes(stuck, 3))  # both readers are still stuck
        assert [r for r, _ in then] == ["busy"] * 3, then
        assert max(s for _, s in then) < 0.5, f"'busy' must not wait: {then}"
        time.sleep(1.2)  # the stuck reads end; the readers are free again
        assert stuck.reads_overdue == 0 and stuck.reads_in_flight == 0
    finally:
        stuck.close()


def test_a_full_queue_sheds_with_503_and_retry_after(urls) -> None:
    result = run_load(
        urls["shedding"],
        "/score",
        [{"user_id": k, "item_id": k} for k in range(100)],
        concurrency=32,
        duration_s=1.5,
        max_requests=10_000,
    )
    assert set(result.failures) == {"http_503"}, result.failures
    assert result.ok > 0 and result.failures["http_503"] > 0, result

    async def burst():
        async with httpx.AsyncClient(base_url=urls["shedding"], timeout=10) as client:
            return await asyncio.gather(
                *(
                    client.post("/score", json={"user_id": k, "item_id": k})
                    for k in range(24)
                )
            )

    responses = asyncio.run(burst())
    shed = [r for r in responses if r.status_code == 503]
    assert shed and len(shed) < len(responses), [r.status_code for r in responses]
    for response in shed:
        assert response.headers["retry-after"] == "3"
        assert "max_queue_size" in response.json()["detail"]


def test_hot_swap_under_load_fails_no_request(servers, swap_registry, offline) -> None:
    from labs.training import ModelRegistry

    registry = ModelRegistry(swap_registry["root"])
    old_version, new_version = swap_registry["old"], swap_registry["new"]
    server = servers.private(swap_settings(swap_registry))
    outcome: dict = {}

    def load() -> None:
        outcome["result"] = run_load(
            server.url,
            "/score",
            [{"user_id": k % 1000, "item_id": (7 * k) % 1000} for k in range(300)],
            concurrency=8,
            duration_s=3.0,
            max_requests=100_000,
            count_header="x-model-version",
        )

    runner = threading.Thread(target=load)
    runner.start()
    time.sleep(1.0)
    registry.promote(new_version, "production")
    runner.join(timeout=60)
    result = outcome["result"]
    assert result.failed == 0, result.failures
    versions = result.header_counts
    assert versions.get(old_version, 0) > 0 and versions.get(new_version, 0) > 0, (
        versions
    )
    body = httpx.post(server.url + "/score", json={"user_id": 12, "item_id": 34}).json()
    assert body["model_version"] == new_version
    assert body["score"] == float(offline(registry.load(new_version), 12, [34])[0])


def test_sigterm_lets_requests_in_flight_finish(servers, registry_root) -> None:
    server = servers.private(sigterm_settings(registry_root))
    results: list[httpx.Response | Exception] = []

    def request(k: int) -> None:
        try:
            results.append(
                httpx.post(
                    server.url + "/score", json={"user_id": k, "item_id": k}, timeout=30
                )
            )
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=request, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while httpx.get(server.url + "/readyz").json()["pending"] < 6:  # all six are in
        assert time.monotonic() < deadline, "the six requests never all arrived"
        time.sleep(0.02)
    server.stop(grace_s=20)  # SIGTERM while they wait for the slow store
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 6
    for response in results:
        assert isinstance(response, httpx.Response), f"a request failed: {response!r}"
        assert response.status_code == 200, response.text
        assert response.json()["fallback"] is False
    log = server.process.log_path.read_text()
    assert "Application shutdown failed" not in log and "Traceback" not in log, log
    assert "service closed" in log, log


@pytest.mark.redis
def test_a_redis_store_that_goes_down_is_answered_from_popularity(
    redis_available,
    doomed_redis,
    servers,
    registry_root,
    oracle,
    store,
    model,
    active_user,
) -> None:
    """The Redis backend serves the offline scores; once Redis dies, popularity does."""
    redis = doomed_redis
    server = None
    try:
        server = servers.private(redis_settings(registry_root, redis))
        assert httpx.get(server.url + "/info").json()["store"].startswith("redis:")
        items = [3, 14, 15, 92, 65]
        check_scores(server.url, oracle, model.version, active_user, items)
        # The store dies. redis-py retries a refused connection with a backoff
        # (seconds in all), so what answers is the timeout, then the bulkhead.
        redis.stop()
        began = time.perf_counter()
        response = httpx.post(
            server.url + "/rank", json={"user_id": active_user, "item_ids": items}
        )
        elapsed = time.perf_counter() - began
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["fallback"] is True, body
        assert elapsed < 2.5, f"waited {elapsed:.2f} s for a Redis that is down"
        want = dict(zip(items, popularity(store, model, items), strict=True))
        assert {r["item_id"]: r["score"] for r in body["items"]} == want
        ready = httpx.get(server.url + "/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["reason"], ready.text
    finally:
        if server is not None:
            server.stop()


def test_stop_drains_the_queue_then_refuses() -> None:
    from labs.online_serving import BatcherClosed, MicroBatcher

    seen: list[list[int]] = []

    async def slow(items: list[int]) -> list[int]:
        seen.append(list(items))
        await asyncio.sleep(0.05)
        return [x * 10 for x in items]

    async def main():
        batcher = MicroBatcher(slow, max_batch_size=4, batch_wait_timeout_s=0)
        batcher.start()
        tasks = [asyncio.create_task(batcher.submit(x)) for x in range(10)]
        try:
            await asyncio.sleep(0.01)  # one batch running, six requests queued
            await batcher.stop(timeout_s=10)
        finally:
            results = await settle(tasks)
        with pytest.raises(BatcherClosed):
            await batcher.submit(99)
        return results

    assert asyncio.run(main()) == [x * 10 for x in range(10)]
    assert sum(len(b) for b in seen) == 10


def test_stop_gives_up_after_its_timeout() -> None:
    from labs.online_serving import BatcherClosed, MicroBatcher

    async def stuck(items):
        await asyncio.sleep(60)
        return items

    async def main():
        batcher = MicroBatcher(stuck, max_batch_size=1, batch_wait_timeout_s=0)
        batcher.start()
        tasks = [asyncio.create_task(batcher.submit(x)) for x in range(3)]
        try:
            await asyncio.sleep(0.01)
            began = time.perf_counter()
            await batcher.stop(timeout_s=0.2)
            elapsed = time.perf_counter() - began
        finally:
            outcomes = await settle(tasks, timeout_s=2.0)
        return elapsed, outcomes

    elapsed, outcomes = asyncio.run(main())
    assert elapsed < 2.0, f"stop() took {elapsed:.1f} s with a 0.2 s timeout"
    assert all(isinstance(o, BatcherClosed) for o in outcomes), outcomes

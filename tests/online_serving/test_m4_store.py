"""m4 — a slow or failing store: a timeout, a bulkhead, and popularity as the fallback.

The read itself is tested on a ``Scorer`` whose store read only sleeps (or
raises); the service through the real app in process, on a store slowed on
purpose (``feature_delay_s``); and on a real Redis that is stopped mid-test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from serving_helpers import bounded, make_service, serving_app, settings_for

from infra.redis_server import RedisServer, redis_binary, start_redis

SLOW_STORE_S = 1.0  # the chaos delay of every store read
TIMEOUT_S = 0.05


def popularity(store, model, items: list[int]) -> np.ndarray:
    """Each item's ctr_7d as the online store holds it (null: the model's fill)."""
    batch = store.online.scan("item_stats")
    column = list(batch.features).index("ctr_7d")
    by_item = dict(zip(map(int, batch.keys), batch.values[:, column], strict=True))
    fill = model.metadata["defaults"]["item_stats:ctr_7d"]
    values = np.array([by_item.get(i, np.nan) for i in items])
    return np.where(np.isnan(values), fill, values)


def make_scorer(read_s: float, timeout_s: float, threads: int = 2, error=None) -> Any:
    """A Scorer whose store read only sleeps ``read_s`` (then raises ``error``, if set)."""
    from labs.online_serving import NullMetrics, Scorer, Settings

    settings = Settings(feature_timeout_s=timeout_s, feature_threads=threads)
    scorer = Scorer(None, None, None, settings, NullMetrics())  # type: ignore[arg-type]

    def read(users, items, model):
        time.sleep(read_s)
        if error is not None:
            raise error
        return {"rows": len(users)}

    scorer._read = read  # type: ignore[method-assign]
    return scorer


async def outcomes(scorer, n: int) -> list:
    """``n`` concurrent guarded reads: each one's result (or reason) and its seconds."""
    from labs.online_serving import FeatureUnavailable

    rows = np.arange(3)

    async def one():
        began = time.perf_counter()
        try:
            result = await scorer.guarded_read(rows, rows, None)
        except FeatureUnavailable as exc:
            result = exc.reason
        return result, time.perf_counter() - began

    return await bounded(asyncio.gather(*(one() for _ in range(n))), f"{n} reads")


def test_healthy_reads_wait_their_turn_and_stuck_readers_fail_fast() -> None:
    """The bulkhead refuses reads only while every reader is stuck past its timeout."""
    healthy = make_scorer(read_s=0.02, timeout_s=5.0)
    try:  # 8 reads at once on 2 threads: they queue, and every one is answered
        got = asyncio.run(outcomes(healthy, 8))
        assert [r for r, _ in got] == [{"rows": 3}] * 8, got
    finally:
        healthy.close()

    stuck_s = 0.6
    stuck = make_scorer(read_s=stuck_s, timeout_s=0.05)
    try:
        first = asyncio.run(outcomes(stuck, 6))  # 2 start and hang, 4 wait
        assert [r for r, _ in first] == ["timeout"] * 6, first
        assert stuck.reads_overdue == 2  # the 4 that never started were cancelled
        then = asyncio.run(outcomes(stuck, 3))  # both readers are still stuck
        assert [r for r, _ in then] == ["busy"] * 3, then
        assert max(s for _, s in then) < 0.3, f"'busy' must not wait: {then}"
        time.sleep(stuck_s + 0.2)  # the stuck reads end; the readers are free again
        assert stuck.reads_overdue == 0 and stuck.reads_in_flight == 0
    finally:
        stuck.close()


def test_a_store_error_is_a_fallback_not_a_failed_request() -> None:
    failing = make_scorer(0.0, timeout_s=1.0, error=ConnectionError("refused"))
    try:
        got = asyncio.run(outcomes(failing, 2))
    finally:
        failing.close()
    assert [r for r, _ in got] == ["error", "error"], got


def test_a_slow_store_is_answered_from_popularity_in_time(
    service_parts, store, model
) -> None:
    service = make_service(
        service_parts,
        feature_delay_s=SLOW_STORE_S,
        feature_timeout_s=TIMEOUT_S,
        feature_threads=2,
    )
    items = [3, 14, 15, 92, 65, 35, 89, 79]

    async def main():
        async with serving_app(service) as client:
            began = time.perf_counter()
            response = await client.post(
                "/rank", json={"user_id": 7, "item_ids": items}
            )
            return response, time.perf_counter() - began

    response, elapsed = asyncio.run(main())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fallback"] is True, body
    assert body["model_version"] == model.version
    assert elapsed < SLOW_STORE_S * 0.8, f"waited {elapsed:.2f} s for a slow store"
    want = dict(zip(items, popularity(store, model, items), strict=True))
    assert [(r["item_id"], r["score"]) for r in body["items"]] == sorted(
        want.items(), key=lambda kv: -kv[1]
    )


def test_stuck_reads_do_not_pile_up(service_parts) -> None:
    """More concurrent requests than feature threads: all answered, none waits for the store."""
    service = make_service(
        service_parts,
        feature_delay_s=SLOW_STORE_S,
        feature_timeout_s=TIMEOUT_S,
        feature_threads=2,
    )

    async def burst(client: httpx.AsyncClient) -> list[tuple[float, httpx.Response]]:
        async def one(k: int) -> tuple[float, httpx.Response]:
            began = time.perf_counter()
            response = await client.post("/score", json={"user_id": k, "item_id": k})
            return time.perf_counter() - began, response

        return await bounded(asyncio.gather(*(one(k) for k in range(12))), "12 answers")

    async def main():
        async with serving_app(service) as client:
            # the second burst finds the readers still stuck in the first
            return [await burst(client), await burst(client)]

    for results in asyncio.run(main()):
        for elapsed, response in results:
            assert response.status_code == 200, response.text
            assert response.json()["fallback"] is True
            assert elapsed < SLOW_STORE_S * 0.8, f"a request waited {elapsed:.2f} s"


@pytest.fixture
def doomed_redis() -> Iterator[RedisServer]:
    """A private Redis server that the test stops on purpose."""
    assert redis_binary() is not None  # redis_available skipped the test otherwise
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.redis
def test_a_redis_store_that_goes_down_is_answered_from_popularity(
    redis_available, doomed_redis, registry_root, oracle, store, model, active_user
) -> None:
    """The Redis backend serves the offline scores; once Redis dies, popularity does."""
    import torch

    from labs.online_serving import Service

    threads = torch.get_num_threads()  # Service.open sets this process's threads
    settings = settings_for(
        4,
        registry_root,
        store_backend="redis",
        store_url=doomed_redis.url,
        feature_timeout_s=1.0,
        model_poll_s=0,
    )
    service = Service.open(settings)
    items = [3, 14, 15, 92, 65]
    want_online = oracle(active_user, items)

    async def main():
        async with serving_app(service) as client:
            assert (await client.get("/info")).json()["store"] == "redis"
            first = await client.post(
                "/rank", json={"user_id": active_user, "item_ids": items}
            )
            # The store dies. redis-py retries a refused connection with a backoff
            # (seconds in all), so what answers is the timeout, then the bulkhead.
            doomed_redis.stop()
            began = time.perf_counter()
            after = await client.post(
                "/rank", json={"user_id": active_user, "item_ids": items}
            )
            elapsed = time.perf_counter() - began
            ready = await client.get("/readyz")
        return first, after, elapsed, ready

    try:
        first, after, elapsed, ready = asyncio.run(main())
    finally:
        service.store.close()
        torch.set_num_threads(threads)
    assert first.status_code == 200 and first.json()["fallback"] is False, first.text
    got = {r["item_id"]: r["score"] for r in first.json()["items"]}
    assert [got[i] for i in items] == want_online.tolist()
    assert after.status_code == 200, after.text
    body = after.json()
    assert body["fallback"] is True, body
    assert elapsed < 2.5, f"waited {elapsed:.2f} s for a Redis that is down"
    want = dict(zip(items, popularity(store, model, items), strict=True))
    assert {r["item_id"]: r["score"] for r in body["items"]} == want
    assert ready.status_code == 503, ready.text
    assert ready.json()["reason"], ready.text

"""m4 — admission and shutdown: a bounded queue, a drain that answers everyone, a batcher stop.

In process, with exact expectations: under uvicorn the requests in flight are
finished before the lifespan's shutdown runs, so a drain there always finds
nothing pending. Here the service is driven directly, with a store slowed on
purpose (``feature_delay_s``), and every wait is bounded. One test then sends
SIGTERM to a real uvicorn process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import numpy as np
import pytest
from serving_helpers import (
    WakeUps,
    bounded,
    make_service,
    release,
    serving_app,
    settle,
    until,
)

MAX_WAKEUPS = 20  # a wait on an event wakes a few times; a 5 ms poll, hundreds


def job(k: int) -> Any:
    from labs.online_serving import Job

    return Job(k, np.array([k, (k + 1) % 1000], dtype=np.int64))


class CountingMetrics:
    """NullMetrics that counts the requests shed."""

    def __init__(self) -> None:
        from labs.online_serving import NullMetrics

        self.null = NullMetrics()
        self.shed = 0

    def count_shed(self) -> None:
        self.shed += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.null, name)


def test_exactly_max_queue_size_requests_are_admitted(service_parts) -> None:
    """max_queue_size + 1 slow concurrent requests: exactly one 503, the rest 200."""
    metrics = CountingMetrics()
    service = make_service(
        service_parts,
        metrics=metrics,
        max_queue_size=3,
        retry_after_s=3,
        max_batch_size=1,
        feature_delay_s=0.3,
        feature_timeout_s=0,
        feature_threads=3,
    )

    async def burst(client: httpx.AsyncClient, n: int) -> list[httpx.Response]:
        return await bounded(
            asyncio.gather(
                *(
                    client.post("/score", json={"user_id": k, "item_id": k})
                    for k in range(n)
                )
            ),
            f"answers to {n} concurrent requests",
        )

    async def main():
        async with serving_app(service) as client:
            first = await burst(client, 4)
            pending_after = service.pending
            second = await burst(client, 3)  # all answered: room for three again
        return first, pending_after, second

    first, pending_after, second = asyncio.run(main())
    codes = sorted(r.status_code for r in first)
    assert codes == [200, 200, 200, 503], (
        f"4 concurrent requests with max_queue_size=3 gave {codes}: exactly 3 may "
        "be pending, the 4th is refused"
    )
    shed = next(r for r in first if r.status_code == 503)
    assert shed.headers["retry-after"] == "3"
    assert "max_queue_size" in shed.json()["detail"]
    assert metrics.shed == 1, f"{metrics.shed} sheds counted for one 503"
    assert pending_after == 0
    assert [r.status_code for r in second] == [200] * 3


async def until_pending(service: Any, jobs: list[asyncio.Task], n: int) -> None:
    """Wait until ``n`` requests are pending; fail at once if every job ended first.

    A request that was refused or failed never becomes pending: waiting out
    ``until``'s 5 s for it only delays the failure (and says less).
    """
    await until(
        lambda: service.pending == n or all(j.done() for j in jobs),
        f"{n} admitted requests",
    )
    if service.pending != n:
        ended = jobs[0]
        outcome = (
            "cancelled" if ended.cancelled() else ended.exception() or ended.result()
        )
        raise AssertionError(
            f"every request ended before {n} {'was' if n == 1 else 'were'} pending; "
            f"the first with {outcome!r}"
        )


@pytest.mark.parametrize("max_batch_size", [8, 1], ids=["batched", "unbatched"])
def test_a_drain_answers_all_six_pending_requests_and_admits_no_more(
    service_parts, max_batch_size
) -> None:
    from labs.online_serving import Overloaded, Scored

    service = make_service(
        service_parts,
        max_batch_size=max_batch_size,
        batch_wait_timeout_s=0,
        feature_delay_s=0.5,
        feature_timeout_s=0,
        feature_threads=6,
        max_queue_size=64,
    )

    async def main():
        service.start()
        jobs = [asyncio.create_task(service.submit(job(k))) for k in range(6)]
        try:
            await until_pending(service, jobs, 6)
            counted = WakeUps(service.drain(5.0))
            draining = asyncio.create_task(counted)
            await asyncio.sleep(0.05)
            late = asyncio.create_task(service.submit(job(7)))
            refused = await bounded(
                asyncio.gather(late, return_exceptions=True),
                "the late request's answer",
            )
            await bounded(draining, "the end of the drain")
            answered = [j.done() for j in jobs]
            results = await bounded(
                asyncio.gather(*jobs, return_exceptions=True), "six answers"
            )
        finally:
            await settle(jobs)
            release(service)
        stopped = service.batcher is None or service.batcher._task.done()
        return refused[0], answered, results, counted.count, stopped

    refused, answered, results, wakeups, stopped = asyncio.run(main())
    assert isinstance(refused, Overloaded), (
        f"a request that arrived during the drain got {refused!r}: refuse new work "
        "while closing"
    )
    assert all(answered), "the drain returned before every pending request was answered"
    for result in results:
        assert isinstance(result, Scored), f"a pending request got {result!r}"
        assert result.fallback is False
    assert stopped, "the batcher still runs after the drain"
    assert wakeups <= MAX_WAKEUPS, (
        f"the drain woke {wakeups} times in 0.5 s: it polls; wait on self.idle"
    )


def test_a_drain_gives_up_after_its_grace_period(service_parts) -> None:
    from labs.online_serving import BatcherClosed

    service = make_service(
        service_parts,
        max_batch_size=8,
        batch_wait_timeout_s=0,
        feature_delay_s=1.5,
        feature_timeout_s=0,
    )

    async def main():
        service.start()
        stuck = asyncio.create_task(service.submit(job(1)))
        try:
            await until_pending(service, [stuck], 1)
            began = time.perf_counter()
            await bounded(service.drain(0.3), "the end of a 0.3 s drain", timeout_s=1.2)
            elapsed = time.perf_counter() - began
            outcome = await bounded(
                asyncio.gather(stuck, return_exceptions=True), "the stuck request's end"
            )
        finally:
            await settle([stuck])
            release(service)
        return elapsed, outcome[0]

    elapsed, outcome = asyncio.run(main())
    assert elapsed < 1.0, f"a drain with a 0.3 s grace took {elapsed:.2f} s"
    assert isinstance(outcome, BatcherClosed), outcome


def recording_batcher(seen: list[list[int]], delay_s: float, **kwargs: Any) -> Any:
    from labs.online_serving import MicroBatcher

    async def slow(items: list[int]) -> list[int]:
        seen.append(list(items))
        await asyncio.sleep(delay_s)
        return [x * 10 for x in items]

    return MicroBatcher(slow, **kwargs)


def test_stop_drains_the_queue_then_refuses() -> None:
    from labs.online_serving import BatcherClosed

    seen: list[list[int]] = []

    async def main():
        batcher = recording_batcher(
            seen, 0.05, max_batch_size=4, batch_wait_timeout_s=0
        )
        batcher.start()
        tasks = [asyncio.create_task(batcher.submit(x)) for x in range(10)]
        try:
            await asyncio.sleep(0.01)  # one batch running, six requests queued
            counted = WakeUps(batcher.stop(timeout_s=10))
            stopping = asyncio.create_task(counted)
            await asyncio.sleep(0.01)
            with pytest.raises(BatcherClosed):  # closed at once, not after the drain
                await bounded(batcher.submit(98), "a refusal during stop()")
            await bounded(stopping, "the end of stop() (three batches of 50 ms)")
            results = await bounded(asyncio.gather(*tasks), "ten answers")
        finally:
            await settle(tasks)
            batcher.cancel()
        with pytest.raises(BatcherClosed):
            await batcher.submit(99)
        return results, counted.count

    results, wakeups = asyncio.run(main())
    assert results == [x * 10 for x in range(10)]
    assert sorted(x for b in seen for x in b) == list(range(10))
    assert wakeups <= MAX_WAKEUPS, (
        f"stop() woke {wakeups} times while three batches ran: it polls; wait on "
        "self._idle"
    )


@pytest.mark.parametrize("timeout_s", [0.2, 0.0])
def test_stop_gives_up_after_its_timeout(timeout_s) -> None:
    from labs.online_serving import BatcherClosed

    async def main():
        batcher = recording_batcher([], 60, max_batch_size=1, batch_wait_timeout_s=0)
        batcher.start()
        tasks = [asyncio.create_task(batcher.submit(x)) for x in range(3)]
        try:
            await asyncio.sleep(0.01)
            began = time.perf_counter()
            await bounded(
                batcher.stop(timeout_s=timeout_s),
                f"the end of stop(timeout_s={timeout_s})",
                timeout_s=2.0,
            )
            elapsed = time.perf_counter() - began
            outcomes = await bounded(
                asyncio.gather(*tasks, return_exceptions=True), "three refusals"
            )
        finally:
            await settle(tasks)
            batcher.cancel()
        return elapsed, outcomes

    elapsed, outcomes = asyncio.run(main())
    assert elapsed < timeout_s + 0.5, (
        f"stop(timeout_s={timeout_s}) took {elapsed:.2f} s"
    )
    assert all(isinstance(o, BatcherClosed) for o in outcomes), outcomes


@pytest.mark.server
def test_sigterm_lets_requests_in_flight_finish(sigterm_server) -> None:
    """Under uvicorn: SIGTERM with six requests waiting on a slow store; all six get 200."""
    server = sigterm_server
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
        assert len(results) < 6, (
            "all six requests were answered before they were all pending (the "
            f"store is slow on purpose), the first with {results[0]!r}"
        )
        assert time.monotonic() < deadline, "the six requests never all arrived"
        time.sleep(0.02)
    server.stop(grace_s=20)  # SIGTERM while they wait for the slow store
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 6, f"{6 - len(results)} requests never got an answer"
    for response in results:
        assert isinstance(response, httpx.Response), f"a request failed: {response!r}"
        assert response.status_code == 200, response.text
        assert response.json()["fallback"] is False
    log = server.process.log_path.read_text()
    assert "Application shutdown failed" not in log and "Traceback" not in log, log
    assert "service closed" in log, log

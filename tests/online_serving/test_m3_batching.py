"""m3 — dynamic batching: the micro-batcher in-process, then under real HTTP load.

In-process tests drive ``MicroBatcher`` with ``asyncio.run`` and handlers
that record what they were given: timed scenarios with the exact batches
expected, a count of the loop's wake-ups, failures and cancellations. Every
wait is bounded, so a batcher that leaves a caller waiting fails in seconds.
The HTTP test loads a batching server with the closed-loop load generator and
reads the batch sizes it reports.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving_helpers import WakeUps, bounded, settings_for, settle

from infra.loadgen import run_load


def run(coro):
    return asyncio.run(coro)


class Recorder:
    """An async handler that doubles each item and remembers every batch."""

    def __init__(self, delay_s: float = 0.0):
        self.batches: list[list[int]] = []
        self.delay_s = delay_s

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return [2 * x for x in items]


def make(handler, **kwargs):
    from labs.online_serving import MicroBatcher

    async def call(items):  # MicroBatcher wants an 'async def' function
        return await handler(items)

    return MicroBatcher(call, **kwargs)


async def submit_on_schedule(batcher, schedule: list[tuple[float, int]]) -> list:
    """Submit each ``(seconds after start, item)`` on time; every caller's result."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    try:
        for at, item in schedule:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            tasks.append(asyncio.create_task(batcher.submit(item)))
        return await bounded(asyncio.gather(*tasks), "an answer to every caller")
    finally:
        await settle(tasks)


arrivals = st.lists(
    st.lists(st.integers(-1000, 1000), min_size=1, max_size=6),  # a burst
    min_size=1,
    max_size=6,
)


@settings(max_examples=40)
@given(bursts=arrivals, max_batch_size=st.integers(1, 5), slow=st.booleans())
def test_every_caller_gets_its_own_result_and_batches_respect_the_maximum(
    bursts, max_batch_size, slow
) -> None:
    handler = Recorder(delay_s=0.002 if slow else 0.0)

    async def main():
        batcher = make(
            handler, max_batch_size=max_batch_size, batch_wait_timeout_s=0.002
        )
        batcher.start()
        tasks = []
        try:
            for burst in bursts:
                tasks += [asyncio.create_task(batcher.submit(x)) for x in burst]
                await asyncio.sleep(0.001)
        finally:
            results = await settle(tasks)
        batcher.cancel()
        return results

    results = run(main())
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    sent = [x for burst in bursts for x in burst]
    assert results == [2 * x for x in sent]  # each caller, its own item's result
    assert sorted(x for b in handler.batches for x in b) == sorted(sent)  # each once
    assert all(1 <= len(b) <= max_batch_size for b in handler.batches)
    order = [x for b in handler.batches for x in b]
    assert order == sent, "batches must take requests in arrival order"


def test_concurrent_requests_are_merged_into_one_call() -> None:
    handler = Recorder()

    async def main():
        batcher = make(handler, max_batch_size=64, batch_wait_timeout_s=0.05)
        batcher.start()
        results = await bounded(
            asyncio.gather(*(batcher.submit(x) for x in range(20))),
            "an answer to each of 20 callers",
        )
        batcher.cancel()
        return results

    assert run(main()) == [2 * x for x in range(20)]
    assert len(handler.batches) == 1 and handler.batches[0] == list(range(20))


def test_a_full_batch_goes_at_once_without_waiting_for_the_deadline() -> None:
    handler = Recorder()

    async def main():
        batcher = make(handler, max_batch_size=8, batch_wait_timeout_s=30.0)
        batcher.start()
        began = time.perf_counter()
        await bounded(
            asyncio.gather(*(batcher.submit(x) for x in range(16))),
            "two full batches (the deadline is 30 s away)",
        )
        elapsed = time.perf_counter() - began
        batcher.cancel()
        return elapsed

    elapsed = run(main())
    assert elapsed < 5.0, f"two full batches took {elapsed:.1f} s: the wait did not end"
    assert [len(b) for b in handler.batches] == [8, 8]


def test_the_deadline_counts_from_the_first_request_not_the_latest() -> None:
    """A second request arriving mid-wait joins, but does not restart the clock.

    Each moment is read where it happens: the test's clock as it submits, the
    handler's as the batch reaches it. A stalled machine only makes things
    late, so the bound is set by when the second request really went in: a
    batcher that restarts its clock there cannot close before that plus the
    wait, and a correct one closes a whole gap earlier.
    """
    wait, gap = 0.8, 0.4
    called_at: list[float] = []

    async def stamped(items):
        called_at.append(time.perf_counter())
        return [2 * x for x in items]

    async def main():
        batcher = make(stamped, max_batch_size=10, batch_wait_timeout_s=wait)
        batcher.start()
        try:
            first_at = time.perf_counter()
            first = asyncio.create_task(batcher.submit(1))
            await asyncio.sleep(gap)
            second_at = time.perf_counter()
            second = asyncio.create_task(batcher.submit(2))
            answers = await bounded(asyncio.gather(first, second), "both answers")
        finally:
            batcher.cancel()
        return answers, first_at, second_at

    answers, first_at, second_at = run(main())
    assert answers == [2, 4] and len(called_at) == 1, (
        f"two requests {gap} s apart with a {wait} s wait should be one batch; "
        f"the handler was called {len(called_at)} times"
    )
    closed = called_at[0] - first_at
    restarted = second_at - first_at + wait  # the earliest a restarted clock closes
    assert wait * 0.8 <= closed < restarted - 0.05, (
        f"the batch closed {closed:.2f} s after the first request; expected "
        f"~{wait} s ({restarted:.2f} s or later means the timeout restarted at "
        "the second)"
    )


def test_a_handler_exception_reaches_every_caller_and_the_loop_survives() -> None:
    calls = []

    async def failing(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise ValueError("the model is on fire")
        return [x + 1 for x in items]

    async def main():
        from labs.online_serving import MicroBatcher

        batcher = MicroBatcher(failing, max_batch_size=16, batch_wait_timeout_s=0.02)
        batcher.start()
        first = await bounded(
            asyncio.gather(
                *(batcher.submit(x) for x in range(5)), return_exceptions=True
            ),
            "the handler's exception at each of 5 callers",
        )
        after = await bounded(batcher.submit(41), "an answer after a failed batch")
        batcher.cancel()
        return first, after

    first, after = run(main())
    assert len(calls[0]) == 5, calls
    assert all(isinstance(r, ValueError) and "on fire" in str(r) for r in first), first
    assert after == 42


def test_a_wrong_number_of_results_fails_every_caller() -> None:
    async def short(items):
        return items[:-1]

    async def main():
        from labs.online_serving import MicroBatcher

        batcher = MicroBatcher(short, max_batch_size=4, batch_wait_timeout_s=0.02)
        batcher.start()
        out = await bounded(
            asyncio.gather(
                *(batcher.submit(x) for x in range(4)), return_exceptions=True
            ),
            "an error at each of the 4 callers of a batch with 3 results",
        )
        batcher.cancel()
        return out

    out = run(main())
    assert all(isinstance(r, Exception) for r in out), out
    assert "one per request" in str(out[0]) or "4" in str(out[0]), out[0]


def test_a_caller_that_gave_up_is_not_computed() -> None:
    handler = Recorder()

    async def main():
        batcher = make(handler, max_batch_size=10, batch_wait_timeout_s=0.1)
        batcher.start()
        keep = asyncio.create_task(batcher.submit(1))
        gone = asyncio.create_task(batcher.submit(2))
        try:
            await asyncio.sleep(0.01)
            gone.cancel()
            result = await bounded(keep, "the remaining caller's answer")
        finally:
            await settle([keep, gone])
        batcher.cancel()
        return result

    assert run(main()) == 2
    assert handler.batches == [[1]]


def test_a_timer_left_from_an_early_batch_does_not_close_the_next() -> None:
    """Batches [1, 2] and [3, 4]: the first filled early, its deadline must not end the second.

    1 arrives at 0 s and starts a 0.6 s wait; 2 fills the batch at 0.05 s.
    3 arrives at 0.3 s, so its batch closes at 0.9 s or when 4 fills it at
    0.75 s. A timer from the first wait, never cancelled, fires at 0.6 s and
    closes [3] alone: batches [1, 2], [3], [4].
    """
    handler = Recorder()

    async def main():
        batcher = make(handler, max_batch_size=2, batch_wait_timeout_s=0.6)
        batcher.start()
        try:
            return await submit_on_schedule(
                batcher, [(0.0, 1), (0.05, 2), (0.3, 3), (0.75, 4)]
            )
        finally:
            batcher.cancel()

    assert run(main()) == [2, 4, 6, 8]
    assert handler.batches == [[1, 2], [3, 4]], (
        f"batches {handler.batches}: a deadline from an earlier batch closed a later "
        "one early (cancel each batch's timer once its wait is over)"
    )


def test_a_request_that_waited_behind_a_batch_leaves_at_once() -> None:
    """The deadline counts from a request's arrival, not from when the loop got to it.

    With a 0.3 s wait and a handler that takes 0.6 s: 1 arrives at 0 s and
    runs 0.3–0.9 s. 2 arrives at 0.45 s and has waited its 0.3 s by 0.9 s,
    so it goes alone at once (0.9–1.5 s). 3 arrives at 1.05 s, after 2 left:
    [1], [2], [3]. A deadline taken from when the loop started waiting
    (0.9 + 0.3 s) keeps 2 waiting until 1.2 s, and 3 joins it: [2, 3]. Every
    moment is 0.15 s from the next that matters, for a loaded machine's late
    wake-ups (with 0.05 s the reference failed under verify's load).
    """
    handler = Recorder(delay_s=0.6)

    async def main():
        batcher = make(handler, max_batch_size=8, batch_wait_timeout_s=0.3)
        batcher.start()
        try:
            return await submit_on_schedule(batcher, [(0.0, 1), (0.45, 2), (1.05, 3)])
        finally:
            batcher.cancel()

    assert run(main()) == [2, 4, 6]
    assert handler.batches == [[1], [2], [3]], (
        f"batches {handler.batches}: a request that already waited "
        "batch_wait_timeout_s behind the previous batch must leave at once"
    )


def test_the_loop_sleeps_until_an_arrival_a_full_batch_or_the_deadline() -> None:
    """One timer per batch: the loop wakes a handful of times, not once per millisecond."""
    handler = Recorder()

    async def main():
        batcher = make(handler, max_batch_size=8, batch_wait_timeout_s=0.3)
        counted: list[WakeUps] = []
        run_loop = batcher._run

        def counting_run():
            counted.append(WakeUps(run_loop()))
            return counted[0]

        batcher._run = counting_run  # start() runs this as the loop's task
        batcher.start()
        try:
            # 0.2 s or more from each arrival to the deadline it must beat or miss
            schedule = [(0.0, 1), (0.05, 2), (0.1, 3), (0.6, 4), (0.65, 5)]
            results = await submit_on_schedule(batcher, schedule)
            await asyncio.sleep(0.3)  # idle: nothing may wake the loop now
        finally:
            batcher.cancel()
        return results, counted[0].count

    results, wakeups = run(main())
    assert results == [2, 4, 6, 8, 10]
    assert handler.batches == [[1, 2, 3], [4, 5]], handler.batches
    assert wakeups <= 12, (
        f"the batching loop woke {wakeups} times for 2 batches in 1.2 s: it polls. "
        "Sleep on self._wakeup, set by submit and by one timer per batch."
    )


def test_a_caller_cancelled_mid_batch_leaves_the_others_and_the_loop_working() -> None:
    handler = Recorder(delay_s=0.1)

    async def main():
        batcher = make(handler, max_batch_size=4, batch_wait_timeout_s=0)
        batcher.start()
        tasks = [asyncio.create_task(batcher.submit(x)) for x in range(3)]
        try:
            await asyncio.sleep(0.03)  # the batch is in the handler
            tasks[1].cancel()
            done = await bounded(
                asyncio.gather(tasks[0], tasks[2]), "the two remaining answers"
            )
            after = await bounded(batcher.submit(7), "an answer to the next batch")
        finally:
            await settle(tasks)
            batcher.cancel()
        return done, after

    done, after = run(main())
    assert done == [0, 4] and after == 14, (done, after)
    assert handler.batches == [[0, 1, 2], [7]], handler.batches


@pytest.mark.given
def test_a_failure_of_the_loop_itself_reaches_the_batch_it_was_running() -> None:
    """The safety net in ``_run`` (given): nobody waits forever, later submits are refused."""
    from labs.online_serving import BatcherClosed

    async def main():
        batcher = make(Recorder(), max_batch_size=4, batch_wait_timeout_s=0)

        async def broken(batch):  # a bug in _process, not in the handler
            raise KeyError("a bug in the loop")

        batcher._process = broken
        batcher.start()
        first = await bounded(
            asyncio.gather(
                *(batcher.submit(x) for x in range(3)), return_exceptions=True
            ),
            "an error for each caller of the batch the loop was running",
        )
        with pytest.raises(BatcherClosed, match="crashed"):
            await bounded(batcher.submit(9), "a refusal after the loop crashed")
        return first, batcher.busy

    first, busy = run(main())
    assert all(isinstance(r, Exception) for r in first), first
    assert "a bug in the loop" in str(first[0]), first[0]
    assert not busy


def test_batching_gives_more_predictions_per_second_with_16_callers(model) -> None:
    """16 concurrent callers scoring one row each: batched beats one model call per row."""
    from labs.online_serving import MicroBatcher

    features = model.metadata["features"]
    rng = np.random.default_rng(0)
    n_rows = 16 * 24
    frame = {
        "user_id": rng.integers(0, 1000, n_rows),
        "item_id": rng.integers(0, 1000, n_rows),
        **{f: rng.random(n_rows) for f in features},
    }

    async def predict(rows: list[int]) -> list[float]:
        batch = {name: column[rows] for name, column in frame.items()}
        return model.predict(batch).tolist()

    async def throughput(max_batch_size: int) -> float:
        batcher = MicroBatcher(
            predict, max_batch_size=max_batch_size, batch_wait_timeout_s=0.0005
        )
        batcher.start()

        async def caller(k: int) -> None:
            for row in range(k, n_rows, 16):
                await batcher.submit(row)

        began = time.perf_counter()
        await bounded(
            asyncio.gather(*(caller(k) for k in range(16))),
            f"answers to {n_rows} rows",
            timeout_s=30,
        )
        elapsed = time.perf_counter() - began
        batcher.cancel()
        return n_rows / elapsed

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the server; a 2-thread pool on a busy box thrashes
    try:
        unbatched = run(throughput(1))
        batched = run(throughput(32))
    finally:
        torch.set_num_threads(threads)
    assert batched > 2 * unbatched, (
        f"batched {batched:.0f} rows/s against {unbatched:.0f} unbatched"
    )


def http_settings(registry_root) -> Any:
    return settings_for(3, registry_root, max_batch_size=32, batch_wait_timeout_s=0.002)


@pytest.fixture(scope="module", autouse=True)
def _prestart(servers, registry_root) -> None:
    """The HTTP test's server starts in the background while the in-process tests run."""
    servers.prestart(http_settings(registry_root))


@pytest.mark.server
def test_under_http_load_batches_form_and_nothing_fails(
    servers, registry_root, oracle, active_user
) -> None:
    server = servers.get(http_settings(registry_root))
    rng = np.random.default_rng(3)
    payloads = [
        {"user_id": int(u), "item_id": int(i)}
        for u, i in zip(
            rng.integers(0, 1000, 500), rng.integers(0, 1000, 500), strict=True
        )
    ]
    result = run_load(
        server.url,
        "/score",
        payloads,
        concurrency=16,
        duration_s=1.0,
        max_requests=20_000,
        count_header="x-batch-size",
    )
    assert result.failed == 0, result.failures
    assert result.ok > 50, result
    sizes = {int(size): n for size, n in result.header_counts.items()}
    assert sum(sizes.values()) == result.ok
    assert max(sizes) > 1, f"every request was scored alone: {sizes}"

    # Under concurrency, every request still gets exactly its own scores.
    async def burst():
        async with httpx.AsyncClient(base_url=server.url) as client:
            items = [
                [int(i) for i in rng.choice(1000, 5, replace=False)] for _ in range(24)
            ]
            responses = await asyncio.gather(
                *(
                    client.post("/rank", json={"user_id": active_user, "item_ids": its})
                    for its in items
                )
            )
            return items, responses

    items, responses = run(burst())
    sizes_seen = {int(r.headers["x-batch-size"]) for r in responses}
    for its, response in zip(items, responses, strict=True):
        assert response.status_code == 200, response.text
        got = {row["item_id"]: row["score"] for row in response.json()["items"]}
        want = oracle(active_user, its)
        assert [got[i] for i in its] == want.tolist()
    assert max(sizes_seen) > 1, sizes_seen

"""An asyncio micro-batcher: many concurrent requests in, one handler call per batch.

    batcher = MicroBatcher(score_batch, max_batch_size=32, batch_wait_timeout_s=0.001)
    batcher.start()                         # inside a running event loop
    result = await batcher.submit(job)      # from many concurrent requests
    await batcher.stop()                    # drain: finish what is queued, then end

**How a batch forms.** Requests wait in a queue, each with its own future
and its arrival time. A batch closes when ``max_batch_size`` requests are
queued, or ``batch_wait_timeout_s`` after its *first* request arrived,
whichever comes first. The deadline is fixed by that first arrival, so the
wait left shrinks as the batch fills and no request waits more than
``batch_wait_timeout_s`` for company; a request that already waited that
long behind the previous batch leaves at once, with whatever queued
meanwhile (under load, batches fill while the handler works, with no wait at
all). The loop sleeps on one event, set by the first arrival, by the arrival
that fills the batch, or by one timer at the deadline: one wake-up per
batch, not one per request.

**How results come back.** The handler gets the items in queue order and
returns one result per item, in the same order; result ``i`` resolves
caller ``i``'s future. If the handler raises (or returns the wrong number
of results), *every* caller in the batch gets that exception: none is left
waiting forever. A caller that gave up (its future is cancelled) is skipped.

**How it stops.** ``stop`` closes the batcher to new requests and waits
(up to a timeout) on an event that is set while every submitted request has
its answer; then it ends the loop. ``cancel`` ends it at once. If the loop
itself ever fails (a bug in ``_process``, not a handler error, which
``_process`` hands to the callers), the batch it was running and every
queued request get ``BatcherClosed``, and so does every later ``submit``.

One batch runs at a time: the handler is the model, which has one core.
The same shape as Ray Serve's ``@serve.batch`` (``serve/batching.py``),
small enough to read in one sitting and tested without a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Handler = Callable[[list[T]], Awaitable[Sequence[R]]]


class BatcherClosed(RuntimeError):
    """The batcher was stopped; it takes no more requests."""


class MicroBatcher(Generic[T, R]):
    """Merge concurrent ``submit`` calls into batches for one async handler.

    Args:
        handler: ``async def handler(items: list[T]) -> Sequence[R]``, one
            result per item, in order.
        max_batch_size: most items per handler call (1 = no batching).
        batch_wait_timeout_s: longest the first item of a batch waits for
            more (0 = take whatever is queued right now).
        on_batch: called with each batch's size before the handler runs
            (metrics).
    """

    def __init__(
        self,
        handler: Handler[T, R],
        *,
        max_batch_size: int = 32,
        batch_wait_timeout_s: float = 0.001,
        on_batch: Callable[[int], None] | None = None,
    ):
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(
                f"the batch handler must be an 'async def' function, got {handler!r}; "
                "run blocking work inside it with loop.run_in_executor."
            )
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be ≥ 1, got {max_batch_size}.")
        if batch_wait_timeout_s < 0:
            raise ValueError(
                f"batch_wait_timeout_s must be ≥ 0 seconds, got {batch_wait_timeout_s}."
            )
        self.handler = handler
        self.max_batch_size = max_batch_size
        self.batch_wait_timeout_s = batch_wait_timeout_s
        self.on_batch = on_batch
        # (item, its caller's future, its arrival time on the loop's clock)
        self._queue: deque[tuple[T, asyncio.Future[R], float]] = deque()
        self._wakeup = asyncio.Event()  # first arrival, full batch, or deadline
        self._task: asyncio.Task[None] | None = None
        self._current: list[tuple[T, asyncio.Future[R]]] = []  # the batch running now
        self._closed = False
        self._crashed: Exception | None = None  # what killed the loop, if anything
        # Set while every submitted request has its answer (nothing queued or
        # running): what stop() waits on, instead of polling the queue.
        self._idle = asyncio.Event()
        self._idle.set()
        self._unanswered = 0
        self.batches = 0  # handler calls so far
        self.items = 0  # items handed to the handler so far

    # --- the public surface (given) ------------------------------------------------------
    @property
    def queue_depth(self) -> int:
        """Requests waiting for a batch (not counting the batch running now)."""
        return len(self._queue)

    @property
    def busy(self) -> bool:
        """Whether a batch is in the handler right now."""
        return bool(self._current)

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="micro-batcher"
            )

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its result (or its batch's exception)."""
        if self._crashed is not None:
            raise BatcherClosed(
                f"the batching loop crashed: {self._crashed!r}"
            ) from self._crashed
        if self._closed:
            raise BatcherClosed("the batcher is stopped and takes no new requests.")
        if self._task is None:
            raise RuntimeError("call start() inside the event loop before submit().")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._unanswered += 1
        self._idle.clear()
        future.add_done_callback(self._answered)
        self._queue.append((item, future, loop.time()))
        if len(self._queue) == 1 or len(self._queue) >= self.max_batch_size:
            self._wakeup.set()  # wake an idle loop, or one waiting for a full batch
        return await future

    def cancel(self) -> None:
        """Stop at once: queued callers and the running batch get ``BatcherClosed``."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        self._fail_all(
            [(i, f) for i, f, _ in self._queue], "the batcher was cancelled."
        )
        self._queue.clear()

    def _answered(self, _: asyncio.Future[R]) -> None:
        self._unanswered -= 1
        if self._unanswered == 0:
            self._idle.set()

    def _fail_all(self, entries: list[tuple[T, asyncio.Future[R]]], why: str) -> None:
        for _, future in entries:
            if not future.done():
                future.set_exception(BatcherClosed(why))

    async def _run(self) -> None:
        try:
            while True:
                batch = await self._next_batch()
                self._current = batch
                self.batches += 1
                self.items += len(batch)
                if self.on_batch is not None:
                    self.on_batch(len(batch))
                try:
                    await self._process(batch)
                except asyncio.CancelledError:
                    self._fail_all(batch, "the batcher was cancelled mid-batch.")
                    self._current = []
                    raise
                # Not in a `finally`: when _process raises, the handler below
                # must still find this batch in _current and tell its callers.
                self._current = []
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the loop itself: nobody may wait forever
            self._crashed = exc
            self._closed = True
            stranded = [*self._current, *((i, f) for i, f, _ in self._queue)]
            self._current = []
            self._queue.clear()
            self._fail_all(stranded, f"the batching loop crashed: {exc!r}")

    # --- the exercise ---------------------------------------------------------------------
    async def _next_batch(self) -> list[tuple[T, asyncio.Future[R]]]:
        """Wait for a first request, then for a full batch or its deadline; take up to max."""
        # BEGIN SOLUTION m3: wait (on self._wakeup) for a first request; unless max_batch_size are queued, wait until its deadline = arrival + batch_wait_timeout_s (a loop.call_at timer sets self._wakeup; so does submit when the batch fills); pop up to max_batch_size live requests
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            deadline = self._queue[0][2] + self.batch_wait_timeout_s
            if len(self._queue) < self.max_batch_size and loop.time() < deadline:
                # One timer per batch, not one wake-up per arrival: submit() sets
                # the event only when the batch is full.
                self._wakeup.clear()
                timer = loop.call_at(deadline, self._wakeup.set)
                try:
                    await self._wakeup.wait()
                finally:
                    timer.cancel()
            batch = []
            while self._queue and len(batch) < self.max_batch_size:
                item, future, _ = self._queue.popleft()
                if not future.done():  # a caller that gave up needs no result
                    batch.append((item, future))
            if batch:
                return batch
        # END SOLUTION

    async def _process(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        """Call the handler once; resolve every caller with its result or the error."""
        # BEGIN SOLUTION m3: one handler call with the items in order; result i resolves future i; on an exception (or a wrong number of results) every caller gets it
        items = [item for item, _ in batch]
        try:
            results = await self.handler(items)
            if len(results) != len(items):
                raise RuntimeError(
                    f"the batch handler returned {len(results)} results for "
                    f"{len(items)} requests; it must return one per request, in order."
                )
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # cancelled meanwhile: nobody is listening
                future.set_result(result)
        # END SOLUTION

    async def stop(self, timeout_s: float | None = None) -> None:
        """Drain: refuse new requests, let every queued one be answered, then end the loop.

        Waits on an event (no polling) for at most ``timeout_s`` seconds
        (``None``: no limit; ``0``: not at all); requests still unanswered
        then get ``BatcherClosed``.
        """
        # BEGIN SOLUTION m4: close to new submits; wait on self._idle (at most timeout_s; None = no limit, 0 = not at all) for every queued request to be answered; then cancel the loop and await its end
        self._closed = True
        if self._task is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):  # stragglers: BatcherClosed
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        self.cancel()
        await asyncio.gather(self._task, return_exceptions=True)  # let it unwind
        # END SOLUTION

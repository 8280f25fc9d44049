"""The engine loop behind the service: many streaming requests, one scheduler.

    engine = AsyncEngine(scheduler, admission, metrics=metrics)
    engine.start()                                        # inside a running event loop
    handle = engine.submit("def ", prompt_ids, params)    # Overloaded if over budget
    async for event in engine.stream(handle):             # one TokenEvent per token
        send(event.text)
    await engine.stop()

**One loop owns the scheduler.** Requests arrive on the event loop at any
moment, but the scheduler is not thread-safe and its step runs in a worker
thread (a forward pass must not block the event loop: every stream and
health check would stall with it). So ``submit`` and ``abort`` only note
what to do; the loop applies the new sequences and the aborts *between*
steps, runs ``scheduler.step()`` with ``asyncio.to_thread``, and delivers
each step's tokens to the requests' queues. It sleeps on one event while
there is no work; ``submit`` and ``abort`` set it.

**Streaming.** Each request has an ``asyncio.Queue``; a token is put there
the moment its step ends and ``stream`` yields it at once, so the first
token reaches the client while the rest are still being computed.

**Cancellation.** When the client goes away the response's generator is
cancelled; ``stream``'s ``finally`` then aborts the sequence, and the loop
frees its cache before the next step, instead of computing tokens nobody
will read for the rest of ``max_tokens``.

Check it: ``labkit check llm_serving`` (milestone m4).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from labs.llm_serving.admission import KVAdmission
from labs.llm_serving.metrics import EngineMetrics
from labs.llm_serving.paged_cache import PagedKVCache
from labs.llm_serving.sampling import SamplingParams
from labs.llm_serving.scheduler import Scheduler
from labs.llm_serving.sequence import Sequence, TokenEvent, next_seq_id

log = logging.getLogger(__name__)
IDLE_POLL_S = 0.002  # a static batch waiting to fill is polled this often


class EngineClosed(RuntimeError):
    """The engine is stopping and takes no new requests."""


@dataclass(eq=False)
class RequestHandle:
    """One request's side of the engine: its queue of events and its timings."""

    seq: Sequence
    arrival: float  # time.monotonic() when it was submitted
    queue: asyncio.Queue[TokenEvent] = field(default_factory=asyncio.Queue)
    first_token_at: float | None = None
    last_token_at: float | None = None
    finished: bool = False
    finish_reason: str | None = None

    @property
    def ttft_s(self) -> float | None:
        return (
            None if self.first_token_at is None else self.first_token_at - self.arrival
        )


class AsyncEngine:
    """Runs a :class:`~labs.llm_serving.scheduler.Scheduler` for concurrent async callers.

    Args:
        scheduler: the scheduler (and through it the model and KV store).
        admission: the KV-cache budget new requests are charged against.
        metrics: Prometheus metrics to record (``None``: none).
        step_delay_s: sleep added to every step (chaos: a slower model).
        block_tokens: the block size /metrics counts KV memory in (a
            contiguous cache's stretches are counted in these blocks too).
    """

    def __init__(
        self,
        scheduler: Scheduler,
        admission: KVAdmission,
        *,
        metrics: EngineMetrics | None = None,
        step_delay_s: float = 0.0,
        block_tokens: int = 16,
    ):
        self.scheduler = scheduler
        self.block_tokens = block_tokens  # /metrics counts KV memory in these blocks
        self.admission = admission
        self.metrics = metrics
        self.step_delay_s = step_delay_s
        self._handles: dict[int, RequestHandle] = {}
        self._new: list[Sequence] = []  # submitted, not yet given to the scheduler
        self._aborts: set[int] = set()  # to abort before the next step
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.crashed: BaseException | None = None  # what killed the loop, if anything
        self.aborted = 0  # requests cancelled so far

    # --- given: the public surface ------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="llm-engine"
            )

    async def stop(self) -> None:
        """Refuse new requests, end the loop, and tell every waiting caller."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        now = time.monotonic()
        for handle in list(self._handles.values()):  # the loop is gone: settle here
            event = TokenEvent(handle.seq.seq_id, -1, "", 0.0, True, "abort")
            handle.queue.put_nowait(event)
            self._settle(handle, "abort", now)

    def cost(self, prompt_len: int, max_tokens: int) -> int:
        """The most KV slots a request may hold (what admission charges)."""
        kv = self.scheduler.kv
        if isinstance(kv, PagedKVCache):
            return kv.blocks_for(prompt_len + max_tokens) * kv.block_size
        return kv.max_len  # type: ignore[attr-defined, no-any-return]

    def submit(
        self, prompt: str, prompt_ids: list[int], params: SamplingParams
    ) -> RequestHandle:
        """Admit a request (or raise ``Overloaded``) and queue it for the next step."""
        if self._closed or self.crashed is not None:
            raise EngineClosed(
                f"the engine is {'down: ' + repr(self.crashed) if self.crashed else 'shutting down'}"
                "; send the request elsewhere."
            )
        seq_id = next_seq_id()
        self.admission.admit(seq_id, self.cost(len(prompt_ids), params.max_tokens))
        device = self.scheduler.model.wte.weight.device
        now = time.monotonic()
        seq = Sequence.create(
            seq_id, prompt, prompt_ids, params, device=device, arrival=now
        )
        handle = RequestHandle(seq, arrival=now)
        self._handles[seq_id] = handle
        self._new.append(seq)
        if self.metrics is not None:
            self.metrics.prompt_tokens.inc(len(prompt_ids))
        self._wakeup.set()
        return handle

    def abort(self, seq_id: int) -> None:
        """Cancel a request; its cache is freed before the next step."""
        if seq_id in self._handles:
            self._aborts.add(seq_id)
            self._wakeup.set()

    @property
    def in_flight(self) -> int:
        return len(self._handles)

    # --- the exercise ---------------------------------------------------------------------
    async def stream(self, handle: RequestHandle) -> AsyncIterator[TokenEvent]:
        """The request's events as they are produced, the finished one last.

        If the caller stops listening before the end (the client
        disconnected and the generator was closed or cancelled), the request
        is aborted so that its blocks are freed at once.
        """
        # BEGIN SOLUTION m4: yield each event from handle.queue as soon as it arrives, ending after the finished one; in a finally, abort the sequence unless it finished
        try:
            while True:
                event = await handle.queue.get()
                yield event
                if event.finished:
                    return
        finally:
            if not handle.finished:
                self.abort(handle.seq.seq_id)
        # END SOLUTION

    def _deliver(self, events: list[TokenEvent], now: float) -> None:
        """Hand each step's events to their requests; time them; settle the finished."""
        for event in events:
            handle = self._handles.get(event.seq_id)
            if handle is None:
                continue  # aborted while its step ran
            # BEGIN SOLUTION m4: record the first token's time (TTFT from handle.arrival) or the gap since the last token (inter-token latency); count the token; put the event in the queue; when it finished: mark the handle, release its admission, forget it, count the request and its e2e latency
            if handle.first_token_at is None:
                handle.first_token_at = now
                if self.metrics is not None:
                    self.metrics.ttft.observe(now - handle.arrival)
            elif self.metrics is not None and handle.last_token_at is not None:
                self.metrics.itl.observe(now - handle.last_token_at)
            handle.last_token_at = now
            if self.metrics is not None:
                self.metrics.generated.inc()
            handle.queue.put_nowait(event)
            if event.finished:
                self._settle(handle, event.finish_reason or "length", now)
            # END SOLUTION

    # --- given: the loop ----------------------------------------------------------------
    def _settle(self, handle: RequestHandle, reason: str, now: float) -> None:
        handle.finished = True
        handle.finish_reason = reason
        self.admission.release(handle.seq.seq_id)
        self._handles.pop(handle.seq.seq_id, None)
        if self.metrics is not None:
            self.metrics.requests.labels(reason).inc()
            self.metrics.e2e.labels(reason).observe(now - handle.arrival)

    def _apply_pending(self) -> None:
        """Between steps: give new sequences to the scheduler, abort the cancelled ones."""
        for seq in self._new:
            self.scheduler.add(seq)
        self._new.clear()
        now = time.monotonic()
        for seq_id in self._aborts:
            handle = self._handles.get(seq_id)
            if handle is None:
                continue
            self.scheduler.abort(seq_id)  # frees its blocks now
            self.aborted += 1
            event = TokenEvent(
                seq_id, -1, "", 0.0, finished=True, finish_reason="abort"
            )
            handle.queue.put_nowait(event)
            self._settle(handle, "abort", now)
        self._aborts.clear()

    def _step(self) -> list[TokenEvent]:
        events = self.scheduler.step()
        if self.step_delay_s > 0:
            time.sleep(self.step_delay_s)
        return events

    def _observe(self, tokens: int, now: float) -> None:
        if self.metrics is None:
            return
        kv, scheduler = self.scheduler.kv, self.scheduler
        self.metrics.observe_step(
            tokens,
            running=len(scheduler.running),
            waiting=len(scheduler.waiting) + len(self._new),
            blocks_in_use=math.ceil(kv.reserved_tokens / self.block_tokens),
            used_tokens=kv.used_tokens,
            preemptions=scheduler.stats.preemptions,
            now=now,
        )

    async def _run(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a step: nobody may wait forever
            log.exception("the engine loop crashed")
            self.crashed = exc
            now = time.monotonic()
            for handle in list(self._handles.values()):
                event = TokenEvent(handle.seq.seq_id, -1, "", 0.0, True, "error")
                handle.queue.put_nowait(event)
                self._settle(handle, "error", now)

    async def _loop(self) -> None:
        while True:
            self._apply_pending()
            if not self.scheduler.has_work:
                self._observe(0, time.monotonic())
                self._wakeup.clear()
                if not (self._new or self._aborts):
                    await self._wakeup.wait()
                continue
            events = await asyncio.to_thread(self._step)
            now = time.monotonic()
            self._deliver(events, now)
            self._observe(len(events), now)
            if not events:  # a static batch still filling: poll, do not spin
                self._wakeup.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), IDLE_POLL_S)

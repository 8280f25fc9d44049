"""The service's Prometheus metrics, in a registry of its own.

    GET /metrics
    llm_time_to_first_token_seconds     histogram: request arrival -> first token out
    llm_inter_token_latency_seconds     histogram: between two tokens of one request
    llm_e2e_request_latency_seconds     histogram: arrival -> last token, by finish reason
    llm_generated_tokens_total          counter: tokens sent (rate() = tokens/s)
    llm_prompt_tokens_total             counter: prompt tokens admitted
    llm_tokens_per_second               gauge: generated tokens/s over the last 5 s
    llm_requests_total{finish_reason}   counter: length | stop | abort
    llm_rejected_total                  counter: 503s for the KV budget
    llm_running_sequences               gauge: in the batch
    llm_waiting_sequences               gauge: admitted, not running (queued or preempted)
    llm_kv_blocks_in_use / _total       gauge: KV memory held, in blocks of kv_block_size
    llm_kv_used_tokens                  gauge: positions the running sequences hold
    llm_preemptions_total               counter: sequences preempted for memory

TTFT is what a user waits before anything appears, so it is timed from the
request's *arrival* at the service, queueing included, never from the
moment the engine got round to it. The declarations are given; what is
observed where is milestone m4's ``AsyncEngine._deliver``.
"""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ITL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
E2E_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RATE_WINDOW_S = 5.0


class EngineMetrics:
    """Every metric of one engine; ``render()`` is the /metrics body."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, kv_blocks_total: int) -> None:
        r = self.registry = CollectorRegistry()
        self.ttft = Histogram(
            "llm_time_to_first_token_seconds",
            "From the request's arrival to its first token, queueing included.",
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.itl = Histogram(
            "llm_inter_token_latency_seconds",
            "Between two consecutive tokens of one request.",
            buckets=ITL_BUCKETS,
            registry=r,
        )
        self.e2e = Histogram(
            "llm_e2e_request_latency_seconds",
            "From the request's arrival to its last token.",
            ["finish_reason"],
            buckets=E2E_BUCKETS,
            registry=r,
        )
        self.generated = Counter(
            "llm_generated_tokens", "Tokens generated and sent.", registry=r
        )
        self.prompt_tokens = Counter(
            "llm_prompt_tokens", "Prompt tokens of admitted requests.", registry=r
        )
        self.tokens_per_s = Gauge(
            "llm_tokens_per_second",
            f"Generated tokens per second over the last {RATE_WINDOW_S:.0f} s.",
            registry=r,
        )
        self.requests = Counter(
            "llm_requests", "Finished requests.", ["finish_reason"], registry=r
        )
        self.rejected = Counter(
            "llm_rejected",
            "Requests refused for the KV-cache budget (503).",
            registry=r,
        )
        self.running = Gauge(
            "llm_running_sequences", "Sequences in the batch.", registry=r
        )
        self.waiting = Gauge(
            "llm_waiting_sequences", "Admitted sequences not running.", registry=r
        )
        self.blocks_in_use = Gauge(
            "llm_kv_blocks_in_use", "KV blocks held by live sequences.", registry=r
        )
        self.blocks_total = Gauge(
            "llm_kv_blocks_total", "KV blocks in the cache.", registry=r
        )
        self.used_tokens = Gauge(
            "llm_kv_used_tokens", "Positions the live sequences hold.", registry=r
        )
        self.preemptions = Counter(
            "llm_preemptions", "Sequences preempted for KV memory.", registry=r
        )
        self.blocks_total.set(kv_blocks_total)
        self._recent: deque[tuple[float, int]] = deque()  # (time, tokens) per step
        self._recent_tokens = 0  # their sum, kept as they come and go
        self._preempted_seen = 0

    def observe_step(
        self,
        tokens: int,
        *,
        running: int,
        waiting: int,
        blocks_in_use: int,
        used_tokens: int,
        preemptions: int,
        now: float | None = None,
    ) -> None:
        """After each engine step: the gauges, and the recent token rate."""
        now = time.monotonic() if now is None else now
        self._recent.append((now, tokens))
        self._recent_tokens += tokens
        # A running sum: re-adding the window at every step cost the engine
        # loop O(steps per window) each step, ~5% of a core under load.
        while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
            self._recent_tokens -= self._recent.popleft()[1]
        span = (
            max(now - self._recent[0][0], 1e-3)
            if len(self._recent) > 1
            else RATE_WINDOW_S
        )
        self.tokens_per_s.set(self._recent_tokens / span)
        self.running.set(running)
        self.waiting.set(waiting)
        self.blocks_in_use.set(blocks_in_use)
        self.used_tokens.set(used_tokens)
        if preemptions > self._preempted_seen:
            self.preemptions.inc(preemptions - self._preempted_seen)
            self._preempted_seen = preemptions

    def render(self) -> bytes:
        return generate_latest(self.registry)

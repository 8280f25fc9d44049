"""m4 — a token-bucket rate limiter, exact under a simulated clock.

    from labs.dsa_for_ml.rate_limit import RateLimiter, TokenBucket
    bucket = TokenBucket(rate=10, burst=20)          # 10 requests/s, bursts of 20
    decision = bucket.try_acquire()
    decision.allowed, decision.retry_after_s
    status, headers = decision.http()                # (429, {"Retry-After": "1"})

    limiter = RateLimiter(rate=5, burst=10, max_clients=100_000)
    limiter.check("client-7")                        # one bucket per client

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens per second.
A request of cost ``c`` passes if the bucket holds at least ``c`` tokens
(they are taken) and is refused otherwise (nothing is taken). Over any
interval of length ``T`` at most ``burst + rate·T`` tokens' worth of requests
pass, and a client that keeps asking gets exactly that. A refused request
learns when it would pass: ``(c − tokens) / rate`` seconds from now, which
the service returns as ``429 Too Many Requests`` with ``Retry-After``
(whole seconds, rounded up, as HTTP requires).

**Exact.** The state is two numbers: the tokens and the time they were
counted at. It is refilled lazily at each request,
``tokens = min(burst, tokens + rate · (now − last))``. Rates, costs and
clock readings are turned into ``fractions.Fraction`` (a float converts
exactly), so with a simulated clock the tests compare decisions and retry
times with ``==``: waiting exactly ``retry_after`` seconds always succeeds.
The price is a few microseconds per decision (``labkit bench`` measures it).

The clock must not go backwards: ``time.monotonic`` by default, a simulated
one in tests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from labs.dsa_for_ml.lru import LRUCache

Number = int | float | Fraction


def _fraction(value: Number | str, name: str) -> Fraction:
    try:
        out = Fraction(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    return out


@dataclass(frozen=True)
class Decision:
    """What the limiter says about one request.

    Attributes:
        allowed: whether the request may proceed.
        tokens: tokens left in the bucket after the decision.
        retry_after: seconds until the same request would pass (0 if allowed),
            exact.
    """

    allowed: bool
    tokens: Fraction
    retry_after: Fraction

    @property
    def retry_after_s(self) -> float:
        return float(self.retry_after)

    def http(self) -> tuple[int, dict[str, str]]:
        """The HTTP status and headers a service answers with.

        ``(200, {})`` when allowed; else ``(429, {"Retry-After": n})`` with
        ``n = ⌈retry_after⌉`` whole seconds (at least 1).
        """
        if self.allowed:
            return 200, {}
        return 429, {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class TokenBucket:
    """``burst`` tokens at most, ``rate`` more per second; starts full.

    Args:
        rate: tokens added per second (> 0).
        burst: the bucket's capacity, the largest burst allowed (> 0).
        clock: the time in seconds; read once at creation and at each request.
    """

    def __init__(
        self,
        rate: Number,
        burst: Number,
        clock: Callable[[], Number] = time.monotonic,
    ):
        self.rate = _fraction(rate, "rate")
        self.burst = _fraction(burst, "burst")
        if self.rate <= 0 or self.burst <= 0:
            raise ValueError(
                f"a token bucket needs rate > 0 and burst > 0, got rate={rate!r}, "
                f"burst={burst!r}."
            )
        self.clock = clock
        self.tokens = self.burst  # starts full
        self.last = _fraction(clock(), "clock()")  # when `tokens` was counted

    def try_acquire(self, cost: Number = 1) -> Decision:
        """Take ``cost`` tokens if the bucket holds them; say when to retry if not.

        Raises:
            ValueError: ``cost`` is not positive, or exceeds ``burst`` (such a
                request could never pass), or the clock went backwards.
        """
        need = _fraction(cost, "cost")
        if need <= 0 or need > self.burst:
            raise ValueError(
                f"a request costs more than 0 and at most the burst ({self.burst}) "
                f"tokens, got {cost!r}; raise the burst or split the request."
            )
        now = _fraction(self.clock(), "clock()")
        if now < self.last:
            raise ValueError(
                f"the clock went backwards ({float(now)} < {float(self.last)}); "
                "use a monotonic clock (time.monotonic)."
            )
        # BEGIN SOLUTION m4: refill by rate * elapsed (capped at burst), then take the cost or compute the wait
        self.tokens = min(self.burst, self.tokens + self.rate * (now - self.last))
        self.last = now
        if self.tokens >= need:
            self.tokens -= need
            return Decision(True, self.tokens, Fraction(0))
        return Decision(False, self.tokens, (need - self.tokens) / self.rate)
        # END SOLUTION


class RateLimiter:
    """One token bucket per client, at most ``max_clients`` of them (LRU).

    The buckets live in an :class:`LRUCache`, so a flood of one-off client
    ids cannot grow memory without bound. An evicted client comes back to a
    full bucket: the cost of the bound is that such a client may burst
    again, so size ``max_clients`` above the clients active within
    ``burst / rate`` seconds.

    Args:
        rate, burst: every client's bucket (see :class:`TokenBucket`).
        max_clients: buckets kept.
        clock: shared by every bucket.
    """

    def __init__(
        self,
        rate: Number,
        burst: Number,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], Number] = time.monotonic,
    ):
        TokenBucket(rate, burst, clock)  # validate now, not at the first request
        self.rate, self.burst, self.clock = rate, burst, clock
        self.buckets: LRUCache[str, TokenBucket] = LRUCache(max_clients)
        self.allowed = self.refused = 0

    def check(self, client: str, cost: Number = 1) -> Decision:
        """The decision for one request of ``client``."""
        bucket = self.buckets.get(client)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, self.clock)
            self.buckets.put(client, bucket)
        decision = bucket.try_acquire(cost)
        if decision.allowed:
            self.allowed += 1
        else:
            self.refused += 1
        return decision

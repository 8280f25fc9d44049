"""m4 — the Bloom filter against its theory; the token bucket against a
brute-force formula, exactly, under a simulated clock.

Bloom: no false negatives ever, and the measured false-positive rate within
binomial noise (plus 15% for the approximation) of ``(1 − e^{−kn/m})^k``.

Token bucket: the oracle never keeps a bucket. Before request ``i`` the
level is the smallest of ``burst`` and, over every earlier starting point
``u`` (the start, or an admitted request ``j``),
``burst + rate·(t_i − t_u) − (cost admitted from u up to i)``: the bucket
was full at ``u`` at best and only refilled at ``rate`` since.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labs.dsa_for_ml.bloom import BloomFilter, optimal_parameters, theoretical_fp_rate
from labs.dsa_for_ml.rate_limit import RateLimiter, TokenBucket

# --- Bloom filter --------------------------------------------------------------------


def test_parameters_follow_the_closed_form():
    for n, p in [(1_000, 0.01), (50_000, 0.001), (7, 0.2)]:
        m, k = optimal_parameters(n, p)
        assert m == math.ceil(-n * math.log(p) / math.log(2) ** 2)
        assert k == max(1, round(m / n * math.log(2)))
    assert optimal_parameters(1_000, 0.01) == (9_586, 7)  # 9.59 bits per key at 1%
    with pytest.raises(ValueError, match="fp_rate"):
        optimal_parameters(10, 1.5)


@given(
    keys=st.sets(st.text(max_size=12), max_size=200), fp=st.sampled_from([0.3, 0.01])
)
def test_no_false_negatives(keys, fp):
    bloom = BloomFilter(max(1, len(keys)), fp)
    for key in keys:
        bloom.add(key)
    assert all(key in bloom for key in keys)
    assert bloom.count == len(keys)


def test_positions_are_k_bits_inside_the_filter():
    bloom = BloomFilter(100, m=64, k=5)
    for key in ("a", "b", b"bytes", "user42:item7"):
        positions = bloom.positions(key)
        assert len(positions) == 5 and all(0 <= p < 64 for p in positions)
        assert len(set(positions)) == 5  # odd step modulo a power of two: distinct
        assert positions == bloom.positions(key)


@pytest.mark.parametrize(("m", "k"), [(64, 8), (1024, 7), (2**16, 10)])
def test_an_odd_step_gives_k_distinct_positions_for_every_key(m, k):
    """With m a power of two, the positions (h1 + i h2) mod m are distinct for
    i < m only if h2 is odd (invertible mod m). An even h2 = 2^a u repeats after
    m / 2^a steps: at m = 64 and k = 8 that is within k steps for one key in 16,
    so among 2,000 keys an h2 that is not forced odd repeats for certain.
    """
    bloom = BloomFilter(100, m=m, k=k)
    for i in range(2_000):
        positions = bloom.positions(f"user{i}:item{i * 7}")
        assert len(set(positions)) == k, (i, positions)
    # Setting a key's bits sets k of them: the fill ratio after one add says so.
    one = BloomFilter(100, m=m, k=k)
    one.add("user1:item2")
    assert sum(bin(b).count("1") for b in one.bits) == k


def _measured_rate(bloom: BloomFilter, queries: int) -> float:
    return sum(f"absent-{i}" in bloom for i in range(queries)) / queries


@pytest.mark.parametrize("bits_per_key", [6, 10, 14])
def test_measured_false_positive_rate_matches_theory(bits_per_key):
    n, queries = 2_000, 40_000
    m = bits_per_key * n
    k = max(1, round(bits_per_key * math.log(2)))
    bloom = BloomFilter(n, m=m, k=k)
    for i in range(n):
        bloom.add(f"user{i % 97}:item{i}")
    theory = theoretical_fp_rate(m, k, n)
    assert bloom.expected_fp_rate() == pytest.approx(theory)
    measured = _measured_rate(bloom, queries)
    noise = 5 * math.sqrt(theory * (1 - theory) / queries)
    assert abs(measured - theory) <= noise + 0.15 * theory, (measured, theory)
    assert bloom.fill_ratio() == pytest.approx(1 - math.exp(-k * n / m), abs=0.02)


def test_the_rate_climbs_past_capacity():
    bloom = BloomFilter(1_000, 0.01)
    for i in range(3_000):  # three times what it was sized for
        bloom.add(str(i))
    measured = _measured_rate(bloom, 20_000)
    assert measured > 0.1  # the target was 1%
    assert measured == pytest.approx(bloom.expected_fp_rate(), rel=0.15)


# --- token bucket ---------------------------------------------------------------------


class SimClock:
    def __init__(self) -> None:
        self.now = Fraction(0)

    def __call__(self) -> Fraction:
        return self.now


def oracle(rate, burst, requests):
    """Decisions and retry times from the formula, for (time, cost) pairs."""
    rate, burst = Fraction(rate), Fraction(burst)
    admitted: list[tuple[Fraction, Fraction]] = []  # (time, cost) of admitted
    out = []
    for t, cost in requests:
        level = min(burst, burst + rate * t - sum(c for _, c in admitted))
        for j, (tj, _) in enumerate(admitted):
            since = sum(c for _, c in admitted[j:])
            level = min(level, burst + rate * (t - tj) - since)
        if level >= cost:
            admitted.append((t, cost))
            out.append((True, Fraction(0)))
        else:
            out.append((False, (cost - level) / rate))
    return out


REQUESTS = st.lists(
    st.tuples(
        st.fractions(min_value=0, max_value=3, max_denominator=8),  # gap, s
        st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(3)]),  # cost
    ),
    max_size=40,
)


@given(
    rate=st.sampled_from([Fraction(1), Fraction(5, 2), Fraction(1, 3), Fraction(10)]),
    burst=st.sampled_from([Fraction(3), Fraction(4), Fraction(7, 2)]),
    gaps=REQUESTS,
)
def test_decisions_equal_the_brute_force_formula_exactly(rate, burst, gaps):
    clock = SimClock()
    bucket = TokenBucket(rate, burst, clock=clock)
    requests, got = [], []
    for gap, cost in gaps:
        clock.now += gap
        requests.append((clock.now, cost))
        decision = bucket.try_acquire(cost)
        got.append((decision.allowed, decision.retry_after))
    assert got == oracle(rate, burst, requests)


def test_waiting_exactly_retry_after_succeeds():
    clock = SimClock()
    bucket = TokenBucket(rate=Fraction(3), burst=2, clock=clock)
    assert bucket.try_acquire().allowed and bucket.try_acquire().allowed
    refused = bucket.try_acquire()
    assert not refused.allowed and refused.retry_after == Fraction(1, 3)
    clock.now += refused.retry_after - Fraction(1, 10**9)
    assert not bucket.try_acquire().allowed  # a nanosecond early
    clock.now += Fraction(1, 10**9)
    assert bucket.try_acquire().allowed  # exactly on time
    assert bucket.try_acquire().http()[0] == 429


def test_a_flood_gets_exactly_burst_plus_rate_times_t():
    clock = SimClock()
    bucket = TokenBucket(rate=5, burst=10, clock=clock)
    admitted = 0
    for step in range(10_001):  # one request per ms for 10 s, t = 0 .. 10 inclusive
        clock.now = Fraction(step, 1_000)
        admitted += bucket.try_acquire().allowed
    assert admitted == 10 + 5 * 10


def test_refusals_become_429_with_retry_after_in_whole_seconds():
    clock = SimClock()
    bucket = TokenBucket(rate=Fraction(2, 5), burst=1, clock=clock)  # one per 2.5 s
    assert bucket.try_acquire().http() == (200, {})
    refused = bucket.try_acquire()
    assert refused.retry_after == Fraction(5, 2)
    assert refused.http() == (429, {"Retry-After": "3"})
    with pytest.raises(ValueError, match="at most the burst"):
        bucket.try_acquire(cost=2)


def test_per_client_buckets_are_independent_and_bounded():
    clock = SimClock()
    limiter = RateLimiter(rate=1, burst=2, max_clients=2, clock=clock)
    assert [limiter.check("a").allowed for _ in range(3)] == [True, True, False]
    assert limiter.check("b").allowed  # b has its own bucket
    limiter.check("c")  # a third client evicts the least recent: "a"
    assert len(limiter.buckets) == 2 and "a" not in limiter.buckets
    assert limiter.check("a").allowed  # back with a full bucket: the price of the bound
    assert (limiter.allowed, limiter.refused) == (5, 1)


def test_a_service_answers_429_from_the_bucket():
    import asyncio

    import httpx
    from fastapi import Depends, FastAPI, HTTPException

    clock = SimClock()
    limiter = RateLimiter(rate=Fraction(1, 2), burst=2, clock=clock)
    app = FastAPI()

    def rate_limited(client: str = "anonymous") -> None:
        decision = limiter.check(client)
        status, headers = decision.http()
        if status != 200:
            raise HTTPException(status, "rate limit exceeded", headers=headers)

    @app.get("/rank", dependencies=[Depends(rate_limited)])
    def rank() -> dict[str, str]:
        return {"ok": "yes"}

    async def calls() -> None:
        transport = httpx.ASGITransport(app=app)  # in process: no server, no port
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            bot = {"client": "bot"}
            codes = [
                (await http.get("/rank", params=bot)).status_code for _ in range(3)
            ]
            assert codes == [200, 200, 429]
            refused = await http.get("/rank", params=bot)
            assert refused.headers["retry-after"] == "2"  # one token per 2 s
            shopper = await http.get("/rank", params={"client": "shopper"})
            assert shopper.status_code == 200
            clock.now += 2
            assert (await http.get("/rank", params=bot)).status_code == 200

    asyncio.run(calls())

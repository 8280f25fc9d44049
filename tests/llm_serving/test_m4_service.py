"""m4 — the service: streaming, cancellation, admission by KV budget, metrics, bad input.

In-process tests drive ``AsyncEngine`` with ``asyncio.run`` and exact
expectations (which request is refused, when the blocks come back, what
TTFT includes); the HTTP tests run the real service under uvicorn and a
real client that streams, disconnects and sends malformed bodies. Every
wait is bounded, so a hang fails in seconds with what never arrived.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time

import httpx
import pytest
from conftest import service_settings
from prometheus_client.parser import text_string_to_metric_families

from labs.llm_serving import (
    AsyncEngine,
    KVAdmission,
    Overloaded,
    PagedKVCache,
    SamplingParams,
    Scheduler,
    generate_one,
)
from labs.llm_serving.metrics import EngineMetrics

WAIT_S = 5.0


def engine_for(served, *, max_num_seqs=4, blocks=16, budget=1.0, step_delay_s=0.0):
    kv = PagedKVCache.for_model(
        served.model, capacity_tokens=blocks * 16, block_size=16
    )
    scheduler = Scheduler(served.model, served.tokenizer, kv, max_num_seqs=max_num_seqs)
    admission = KVAdmission(kv.capacity_tokens, budget)
    return AsyncEngine(
        scheduler, admission, metrics=EngineMetrics(blocks), step_delay_s=step_delay_s
    )


def ids(served, prompt):
    return served.tokenizer.encode(prompt).tolist()


async def collect(engine, handle):
    times, events = [], []
    async for event in engine.stream(handle):
        times.append(time.monotonic())
        events.append(event)
    return events, times


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_admission_spends_the_budget_exactly():
    admission = KVAdmission(capacity_tokens=256, budget=1.0)
    for seq_id in range(4):
        admission.admit(seq_id, 64)
    assert admission.committed == 256
    with pytest.raises(Overloaded):
        admission.admit(99, 1)
    admission.release(2)
    admission.release(2)  # a second release of the same request changes nothing
    assert admission.committed == 192
    with pytest.raises(Overloaded):
        admission.admit(5, 65)
    admission.admit(5, 64)
    assert admission.committed == 256 and admission.rejected == 2


def test_the_engine_answers_like_generate_one(served):
    async def main():
        engine = engine_for(served)
        engine.start()
        params = [
            SamplingParams(max_tokens=n, temperature=0.8, seed=n) for n in (5, 17, 30)
        ]
        handles = [engine.submit("The ", ids(served, "The "), p) for p in params]
        results = await asyncio.gather(*(collect(engine, h) for h in handles))
        await engine.stop()
        return handles, results

    handles, results = run(main())
    for handle, (events, _) in zip(handles, results, strict=True):
        alone = generate_one(served.model, served.tokenizer, "The ", handle.seq.params)
        assert [e.token for e in events] == alone.token_ids
        assert "".join(e.text for e in events) == alone.text
        assert events[-1].finished and events[-1].finish_reason == "length"


def test_tokens_are_delivered_as_they_are_made(served):
    async def main():
        engine = engine_for(served, step_delay_s=0.03)
        engine.start()
        handle = engine.submit(
            "x = ", ids(served, "x = "), SamplingParams(max_tokens=12, temperature=0)
        )
        events, times = await collect(engine, handle)
        await engine.stop()
        return handle, events, times

    handle, events, times = run(main())
    assert len(events) == 12
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) > 0.015, (
        f"tokens must reach the caller step by step (>= 30 ms apart here), got gaps {gaps}: "
        "they were held back and sent together"
    )
    assert handle.ttft_s is not None and handle.ttft_s < 0.3 * (
        times[-1] - handle.arrival
    )


def test_ttft_includes_the_wait_for_a_place_in_the_batch(served):
    async def main():
        engine = engine_for(served, max_num_seqs=1, step_delay_s=0.02)
        engine.start()
        params = SamplingParams(max_tokens=15, temperature=0)
        first = engine.submit("The ", ids(served, "The "), params)
        second = engine.submit("x = ", ids(served, "x = "), params)
        await asyncio.gather(collect(engine, first), collect(engine, second))
        await engine.stop()
        return engine, first, second

    engine, first, second = run(main())
    first_e2e = first.last_token_at - first.arrival
    assert second.ttft_s >= 0.9 * first_e2e, (
        f"the second request waited {first_e2e:.3f} s for the first to finish, so its TTFT "
        f"({second.ttft_s:.3f} s) must include that wait: time it from its arrival"
    )
    ttft = engine.metrics.ttft.collect()[0]
    total = next(s.value for s in ttft.samples if s.name.endswith("_sum"))
    count = next(s.value for s in ttft.samples if s.name.endswith("_count"))
    assert count == 2 and total == pytest.approx(first.ttft_s + second.ttft_s, rel=1e-6)


def test_a_closed_stream_aborts_and_frees_its_blocks_at_once(served):
    async def main():
        engine = engine_for(served, step_delay_s=0.02)
        engine.start()
        handle = engine.submit(
            "The ", ids(served, "The "), SamplingParams(max_tokens=100, temperature=0)
        )
        stream = engine.stream(handle)
        await stream.__anext__()
        await stream.__anext__()
        await (
            stream.aclose()
        )  # what a client disconnect does to the response's generator
        closed_at = time.monotonic()
        kv = engine.scheduler.kv
        while kv.allocator.num_used or engine.admission.committed:
            assert time.monotonic() - closed_at < 0.5, (
                f"0.5 s after the stream closed, {kv.allocator.num_used} blocks and "
                f"{engine.admission.committed} budget slots were still held"
            )
            await asyncio.sleep(0.005)
        generated = handle.seq.num_output
        await engine.stop()
        return engine, generated

    engine, generated = run(main())
    assert engine.aborted == 1 and generated < 20 and not engine.scheduler.has_work


def test_finished_requests_give_their_budget_back(served):
    async def main():
        engine = engine_for(
            served, blocks=4, budget=1.0
        )  # 64 slots: one request of <= 64
        engine.start()
        params = SamplingParams(max_tokens=40, temperature=0)
        for _ in range(3):
            handle = engine.submit("The ", ids(served, "The "), params)
            with pytest.raises(Overloaded):
                engine.submit("x", ids(served, "x"), params)
            await collect(engine, handle)
        committed = engine.admission.committed
        await engine.stop()
        return committed

    assert run(main()) == 0


# --- over HTTP ---------------------------------------------------------------------------


def sse(response):
    """``(event name, data, arrival time)`` of each event of a streamed response."""
    name = None
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield name, json.loads(line.split(":", 1)[1]), time.monotonic()


def metric(url, name):
    text = httpx.get(url + "/metrics", timeout=WAIT_S).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"/metrics has no {name}")


def test_streaming_sends_the_first_token_long_before_the_last(service):
    body = {"prompt": "def f(x):", "max_tokens": 40, "temperature": 0.7, "seed": 3}
    with httpx.Client(base_url=service.url, timeout=WAIT_S) as client:
        plain = client.post("/generate", json=body)
        assert plain.status_code == 200
        sent = time.monotonic()
        with client.stream(
            "POST", "/generate", json={**body, "stream": True}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = list(sse(response))
    tokens = [e for e in events if e[0] == "token"]
    assert [e[0] for e in events] == ["token"] * 40 + ["done"]
    assert "".join(e[1]["text"] for e in tokens) == plain.json()["text"]
    first, last = tokens[0][2] - sent, tokens[-1][2] - sent
    assert first < 0.25 * last, (
        f"the first token arrived after {first:.3f} s and the last after {last:.3f} s: "
        "tokens must be streamed as they are made, not sent at the end"
    )
    done = events[-1][1]
    assert (
        done["finish_reason"] == "length" and done["usage"]["completion_tokens"] == 40
    )


def test_a_client_disconnect_frees_the_blocks_at_once(service):
    body = json.dumps(
        {"prompt": "The ", "max_tokens": 100, "temperature": 0, "stream": True}
    )
    request = (
        f"POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    before = metric(service.url, "llm_generated_tokens_total")
    with socket.create_connection(("127.0.0.1", service.port), timeout=WAIT_S) as sock:
        sock.sendall(request)
        received = b""
        while received.count(b"event: token") < 2:
            chunk = sock.recv(4096)
            assert chunk, "the server closed the stream early"
            received += chunk
        assert metric(service.url, "llm_running_sequences") == 1
    closed = time.monotonic()  # the socket is closed: the client went away
    while metric(service.url, "llm_kv_blocks_in_use") or metric(
        service.url, "llm_running_sequences"
    ):
        assert time.monotonic() - closed < 1.0, (
            "1 s after the client disconnected its sequence still ran (100 tokens take "
            "over 2 s here): abort it when the stream is closed"
        )
        time.sleep(0.02)
    generated = metric(service.url, "llm_generated_tokens_total") - before
    assert generated < 60, f"{generated} tokens were generated for a client that left"
    assert metric(service.url, "llm_requests_total") >= 0


def test_a_request_over_the_kv_budget_gets_503_with_retry_after(service):
    body = {"prompt": "The ", "max_tokens": 60, "temperature": 0, "stream": True}
    # each costs ceil(64 / 16) = 4 blocks of the cache's 16 (budget 1.0): 4 fit, the 5th not
    with httpx.Client(base_url=service.url, timeout=WAIT_S) as client:
        streams = [client.stream("POST", "/generate", json=body) for _ in range(4)]
        responses = [s.__enter__() for s in streams]
        try:
            assert [r.status_code for r in responses] == [200] * 4
            refused = client.post("/generate", json={**body, "stream": False})
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "2"
        finally:
            for s in streams:
                s.__exit__(None, None, None)
        # Until nothing is admitted: no blocks held, and no sequence running or
        # waiting (a preempted sequence holds no blocks but is still admitted).
        deadline = time.monotonic() + WAIT_S
        while any(
            metric(service.url, gauge)
            for gauge in (
                "llm_kv_blocks_in_use",
                "llm_running_sequences",
                "llm_waiting_sequences",
            )
        ):
            assert time.monotonic() < deadline, (
                "the closed streams never gave their blocks and places back"
            )
            time.sleep(0.02)
        again = client.post(
            "/generate", json={**body, "stream": False, "max_tokens": 3}
        )
        assert again.status_code == 200


def test_metrics_report_latencies_tokens_and_the_cache(service):
    with httpx.Client(base_url=service.url, timeout=WAIT_S) as client:
        before = metric(service.url, "llm_generated_tokens_total")
        r = client.post(
            "/generate", json={"prompt": "x", "max_tokens": 7, "temperature": 0}
        )
        assert r.status_code == 200
        assert r.json()["timing"]["ttft_s"] > 0
    assert metric(service.url, "llm_generated_tokens_total") - before == 7
    assert metric(service.url, "llm_time_to_first_token_seconds_count") >= 1
    assert metric(service.url, "llm_inter_token_latency_seconds_count") >= 6
    assert metric(service.url, "llm_kv_blocks_total") == 16
    for name in (
        "llm_tokens_per_second",
        "llm_waiting_sequences",
        "llm_kv_used_tokens",
    ):
        metric(service.url, name)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"prompt": "é and ü"}, "prompt"),
        ({"prompt": "x" * 128}, "prompt"),
        ({"prompt": "x" * 100, "max_tokens": 29}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 100_000}, "max_tokens"),
        ({"prompt": "x", "top_k": 10_000}, "top_k"),
    ],
)
def test_limits_that_depend_on_the_model_name_the_field(service, body, field):
    r = httpx.post(service.url + "/generate", json=body, timeout=WAIT_S)
    assert r.status_code == 422, r.text
    assert ["body", field] in [e["loc"] for e in r.json()["detail"]], r.text


def test_a_request_that_exactly_fills_the_window_is_served(service):
    r = httpx.post(
        service.url + "/generate",
        json={"prompt": "x" * 100, "max_tokens": 28, "temperature": 0},
        timeout=WAIT_S,
    )
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] == 28


@pytest.mark.given
@pytest.mark.parametrize(
    "raw, field",
    [
        ('{"prompt": ""}', "prompt"),
        ('{"prompt": "x", "max_tokens": 0}', "max_tokens"),
        ('{"prompt": "x", "max_tokens": -3}', "max_tokens"),
        ('{"prompt": "x", "max_tokens": "12"}', "max_tokens"),
        ('{"prompt": "x", "temperature": NaN}', "temperature"),
        ('{"prompt": "x", "temperature": Infinity}', "temperature"),
        ('{"prompt": "x", "top_p": -Infinity}', "top_p"),
        ('{"prompt": "x", "max_tokens": 1e400}', "max_tokens"),
        ('{"prompt": "x", "temperature": 1e400}', "temperature"),
        ('{"prompt": "x", "extra": NaN}', "extra"),
        ('{"prompt": "x", "seed": 1e400}', "seed"),
        ("NaN", None),
        ('{"prompt": "x", "stop": [""]}', "stop"),
    ],
)
def test_malformed_bodies_get_422_naming_the_field_never_500(service, raw, field):
    r = httpx.post(
        service.url + "/generate",
        content=raw,
        headers={"content-type": "application/json"},
        timeout=WAIT_S,
    )
    assert r.status_code == 422, f"{raw!r} answered {r.status_code}: {r.text}"
    locs = [e["loc"] for e in r.json()["detail"]]
    if field is not None:
        assert any(loc[:2] == ["body", field] for loc in locs), (raw, locs)


@pytest.mark.given
def test_the_service_settings_round_trip_through_the_environment():
    settings = service_settings(scheduler="static")
    from labs.llm_serving import Settings

    env = settings.as_env()
    assert env["LABKIT_LLM_SCHEDULER"] == "static"
    assert (
        Settings(**{k.removeprefix("LABKIT_LLM_").lower(): v for k, v in env.items()})
        == settings
    )

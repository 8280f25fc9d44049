"""m5 — observability: /metrics in Prometheus format, checked with prometheus_client's parser.

Known traffic goes through the real app (in process, over ASGI); the scraped
counters must account for exactly it (differences of two scrapes, so earlier
requests do not matter). A request made slow on purpose in three places (its
upload, its batch's wait, its feature read) must be explained by the stage
histogram: each stage its own delay, and the stages together the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import bounded, make_service, serving_app

Samples = dict[tuple[str, tuple], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape: ``(name, sorted labels) -> value``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return parse(response.text)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def metered(service_parts, **overrides: Any) -> Any:
    from labs.online_serving import ServiceMetrics

    return make_service(service_parts, 5, ServiceMetrics(), **overrides)


def run(service, scenario) -> Any:
    async def main():
        async with serving_app(service) as client:
            return await bounded(scenario(client), "the scenario's end", timeout_s=20)

    return asyncio.run(main())


def test_request_latency_is_counted_by_route_and_status(service_parts) -> None:
    service = metered(service_parts, max_batch_size=16, batch_wait_timeout_s=0.005)

    async def scenario(client: httpx.AsyncClient):
        async def boom() -> None:
            raise RuntimeError("a bug in a handler")

        client.app.add_api_route("/boom", boom, methods=["GET"])  # type: ignore[attr-defined]
        before = await scrape(client)
        for k in range(5):
            r = await client.post("/score", json={"user_id": k, "item_id": k})
            assert r.status_code == 200, r.text
        for k in range(3):
            r = await client.post("/rank", json={"user_id": k, "item_ids": [1, 2]})
            assert r.status_code == 200, r.text
        for _ in range(2):
            assert (
                await client.post("/score", json={"user_id": "x"})
            ).status_code == 422
        r = await client.post("/rank", json={"user_id": 10**7, "item_ids": [1]})
        assert r.status_code == 404
        assert (await client.get("/no/such/path")).status_code == 404
        assert (await client.get("/boom")).status_code == 500
        return before, await scrape(client)

    before, after = run(service, scenario)
    count = "labkit_request_duration_seconds_count"
    assert delta(before, after, count, route="/score", status="200") == 5
    assert delta(before, after, count, route="/rank", status="200") == 3
    assert delta(before, after, count, route="/score", status="422") == 2
    assert delta(before, after, count, route="/rank", status="404") == 1
    assert delta(before, after, count, route="other", status="404") == 1, (
        "a path that is no route must be labelled 'other'"
    )
    assert delta(before, after, count, route="other", status="500") == 1, (
        "a request whose handler raised was not counted (as 500): observe in a finally"
    )
    total = "labkit_request_duration_seconds_sum"
    assert 0 < delta(before, after, total, route="/score", status="200") < 30
    bucket = "labkit_request_duration_seconds_bucket"
    assert delta(before, after, bucket, route="/rank", status="200", le="+Inf") == 3


def test_batch_sizes_account_for_every_scored_request(service_parts) -> None:
    service = metered(service_parts, max_batch_size=16, batch_wait_timeout_s=0.005)

    async def scenario(client: httpx.AsyncClient):
        before = await scrape(client)
        responses = await asyncio.gather(
            *(
                client.post("/score", json={"user_id": k, "item_id": k})
                for k in range(40)
            )
        )
        assert all(r.status_code == 200 for r in responses)
        timing = responses[0].headers.get("server-timing", "")
        return before, await scrape(client), timing

    before, after, timing = run(service, scenario)
    scored = delta(before, after, "labkit_batch_size_sum")
    batches = delta(before, after, "labkit_batch_size_count")
    assert scored == 40, "the batch sizes must add up to the requests scored"
    assert 1 <= batches < 40, f"{batches} batches for 40 concurrent requests"
    assert delta(before, after, "labkit_batch_size_bucket", le="1.0") < batches
    stages = "labkit_stage_duration_seconds_count"
    for stage in ("parse", "queue", "features", "model", "serialise"):
        assert delta(before, after, stages, stage=stage) == 40, stage
    assert [part.split(";")[0] for part in timing.split(", ")] == [
        "parse", "queue", "features", "model", "serialise"
    ], f"Server-Timing: {timing!r}"  # fmt: skip


async def slow_upload(body: bytes, pause_s: float) -> AsyncIterator[bytes]:
    """The body in two halves with a pause between: a slow client's upload."""
    yield body[: len(body) // 2]
    await asyncio.sleep(pause_s)
    yield body[len(body) // 2 :]


UPLOAD_S, WAIT_S, READ_S = 0.2, 0.15, 0.25


def test_the_stage_histogram_explains_a_slow_request(service_parts) -> None:
    """A slow upload, a batch wait and a slow read: each shows in its own stage."""
    service = metered(
        service_parts,
        max_batch_size=16,
        batch_wait_timeout_s=WAIT_S,
        feature_delay_s=READ_S,
        feature_timeout_s=0,
    )

    async def scenario(client: httpx.AsyncClient):
        before = await scrape(client)
        response = await client.post(
            "/score",
            content=slow_upload(b'{"user_id": 7, "item_id": 42}', UPLOAD_S),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 200, response.text
        return before, await scrape(client)

    before, after = run(service, scenario)
    stage = {
        name: delta(before, after, "labkit_stage_duration_seconds_sum", stage=name)
        for name in ("parse", "queue", "features", "model", "serialise")
    }
    request = delta(
        before,
        after,
        "labkit_request_duration_seconds_sum",
        route="/score",
        status="200",
    )
    slack = 0.12
    for name, expected in (
        ("parse", UPLOAD_S),
        ("queue", WAIT_S),
        ("features", READ_S),
    ):
        assert expected * 0.9 <= stage[name] < expected + slack, (
            f"the {name} stage shows {stage[name]:.3f} s of a request slowed by "
            f"{expected} s there (stages, in seconds: {stage})"
        )
    assert abs(sum(stage.values()) - request) < 0.03, (
        f"the stages add up to {sum(stage.values()):.3f} s, the request took "
        f"{request:.3f} s: they must cover it once each ({stage})"
    )


def test_queue_depth_shed_and_model_version_at_rest(service_parts, model) -> None:
    service = metered(service_parts)

    async def scenario(client: httpx.AsyncClient):
        return await scrape(client)

    samples = run(service, scenario)
    assert samples[("labkit_queue_depth", ())] == 0  # nothing in flight at rest
    assert samples[("labkit_shed_total", ())] == 0
    assert samples[("labkit_model_swaps_total", ())] == 0, (
        "serving the first version is not a swap"
    )
    versions = {
        dict(labels)["version"]: value
        for (name, labels), value in samples.items()
        if name == "labkit_model_info"
    }
    assert versions == {model.version: 1.0}


def test_fallbacks_are_counted_by_reason(service_parts) -> None:
    service = metered(service_parts, feature_delay_s=0.5, feature_timeout_s=0.02)

    async def scenario(client: httpx.AsyncClient):
        before = await scrape(client)
        bodies = [
            (await client.post("/score", json={"user_id": k, "item_id": k})).json()
            for k in range(4)
        ]
        return before, await scrape(client), bodies

    before, after, bodies = run(service, scenario)
    assert all(body["fallback"] for body in bodies), bodies
    counted = sum(
        delta(before, after, "labkit_fallbacks_total", reason=reason)
        for reason in ("timeout", "busy", "error")
    )
    assert counted == 4
    assert delta(before, after, "labkit_fallbacks_total", reason="timeout") >= 1


@pytest.mark.parametrize("versions", [["v0001", "v0002"], ["v0001", "v0001", "v0002"]])
def test_model_info_follows_a_swap(versions) -> None:
    """One series, for the version served; a swap is counted once, a repeat not at all."""
    from labs.online_serving import ServiceMetrics

    metrics = ServiceMetrics()
    for version in versions:
        metrics.set_model_version(version)
    samples = parse(metrics.render().decode())
    assert samples[("labkit_model_info", (("version", "v0002"),))] == 1
    assert ("labkit_model_info", (("version", "v0001"),)) not in samples, (
        "the old version's series is still exported: remove it"
    )
    assert samples[("labkit_model_swaps_total", ())] == 1

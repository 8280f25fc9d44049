"""m5 — observability: /metrics in Prometheus format, checked with prometheus_client's parser.

Known traffic goes in; the scraped counters must account for exactly it
(differences of two scrapes, so earlier requests do not matter).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import settings_for

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def urls(servers, registry_root) -> dict[str, str]:
    normal, slow = servers.get_many(
        settings_for(5, registry_root, max_batch_size=16, batch_wait_timeout_s=0.005),
        settings_for(5, registry_root, feature_delay_s=0.5, feature_timeout_s=0.02),
    )
    return {"normal": normal.url, "slow": slow.url}


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: ``(name, sorted labels) -> value``."""
    response = httpx.get(url + "/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def delta(before, after, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_request_latency_is_counted_by_route_and_status(urls) -> None:
    url = urls["normal"]
    before = scrape(url)
    with httpx.Client(base_url=url) as client:
        for k in range(5):
            assert (
                client.post("/score", json={"user_id": k, "item_id": k}).status_code
                == 200
            )
        for k in range(3):
            assert (
                client.post(
                    "/rank", json={"user_id": k, "item_ids": [1, 2]}
                ).status_code
                == 200
            )
        for _ in range(2):
            assert client.post("/score", json={"user_id": "x"}).status_code == 422
        assert (
            client.post("/rank", json={"user_id": 10**7, "item_ids": [1]}).status_code
            == 404
        )
        assert client.get("/no/such/path").status_code == 404
    after = scrape(url)
    count = "labkit_request_duration_seconds_count"
    assert delta(before, after, count, route="/score", status="200") == 5
    assert delta(before, after, count, route="/rank", status="200") == 3
    assert delta(before, after, count, route="/score", status="422") == 2
    assert delta(before, after, count, route="/rank", status="404") == 1
    assert delta(before, after, count, route="other", status="404") == 1
    total = "labkit_request_duration_seconds_sum"
    assert 0 < delta(before, after, total, route="/score", status="200") < 30
    bucket = "labkit_request_duration_seconds_bucket"
    assert delta(before, after, bucket, route="/rank", status="200", le="+Inf") == 3


def test_batch_sizes_account_for_every_scored_request(urls) -> None:
    url = urls["normal"]
    before = scrape(url)

    async def burst():
        async with httpx.AsyncClient(base_url=url) as client:
            return await asyncio.gather(
                *(
                    client.post("/score", json={"user_id": k, "item_id": k})
                    for k in range(40)
                )
            )

    assert all(r.status_code == 200 for r in asyncio.run(burst()))
    after = scrape(url)
    scored = delta(before, after, "labkit_batch_size_sum")
    batches = delta(before, after, "labkit_batch_size_count")
    assert scored == 40, "the batch sizes must add up to the requests scored"
    assert 1 <= batches < 40, f"{batches} batches for 40 concurrent requests"
    assert delta(before, after, "labkit_batch_size_bucket", le="1.0") < batches
    stages = "labkit_stage_duration_seconds_count"
    for stage in ("parse", "queue", "features", "model", "serialise"):
        assert delta(before, after, stages, stage=stage) == 40, stage


def test_queue_depth_and_model_version_are_exported(urls, model) -> None:
    samples = scrape(urls["normal"])
    assert samples[("labkit_queue_depth", ())] == 0  # nothing in flight at rest
    versions = {
        dict(labels)["version"]: value
        for (name, labels), value in samples.items()
        if name == "labkit_model_info"
    }
    assert versions == {model.version: 1.0}


def test_fallbacks_are_counted_by_reason(urls) -> None:
    url = urls["slow"]
    before = scrape(url)
    with httpx.Client(base_url=url) as client:
        bodies = [
            client.post("/score", json={"user_id": k, "item_id": k}).json()
            for k in range(4)
        ]
    assert all(body["fallback"] for body in bodies), bodies
    after = scrape(url)
    counted = sum(
        delta(before, after, "labkit_fallbacks_total", reason=reason)
        for reason in ("timeout", "busy", "error")
    )
    assert counted == 4
    assert delta(before, after, "labkit_fallbacks_total", reason="timeout") >= 1


def test_shed_requests_and_swaps_start_at_zero(urls) -> None:
    samples = scrape(urls["normal"])
    assert samples[("labkit_shed_total", ())] == 0
    assert samples[("labkit_model_swaps_total", ())] == 0


def test_model_info_follows_a_swap() -> None:
    """In-process: the old version's series disappears, the swap is counted."""
    from labs.online_serving import ServiceMetrics

    metrics = ServiceMetrics()
    metrics.set_model_version("v0001")
    metrics.set_model_version("v0002")
    text = metrics.render().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("labkit_model_info", (("version", "v0002"),))] == 1
    assert ("labkit_model_info", (("version", "v0001"),)) not in samples
    assert samples[("labkit_model_swaps_total", ())] == 1

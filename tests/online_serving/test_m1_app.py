"""m1 — the app: lifespan, health and readiness, and bad requests answered 4xx, never 5xx.

The HTTP contract runs against a real uvicorn subprocess; opening, readiness
and its probe are also tested in process, on a ``Service.open`` of this
process, with exact expectations.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from serving_contract import (
    check_domain_errors,
    check_health,
    check_invalid_bodies,
    check_non_standard_numbers,
)
from serving_helpers import settings_for

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def url(contract_url) -> str:
    return contract_url


@pytest.fixture(scope="module")
def opened(registry_root) -> Iterator[tuple[Any, int]]:
    """``Service.open`` in this process, with a torch thread count it must set."""
    import torch

    from labs.online_serving import Service

    threads = torch.get_num_threads()
    wanted = 3 if threads != 3 else 2
    service = Service.open(settings_for(1, registry_root, torch_threads=wanted))
    try:
        yield service, wanted
    finally:
        asyncio.run(service.close())
        torch.set_num_threads(threads)


def test_open_sets_torch_threads_and_loads_the_alias(opened, model) -> None:
    import torch

    service, wanted = opened
    assert torch.get_num_threads() == wanted, (
        f"Service.open left torch at {torch.get_num_threads()} threads; "
        f"settings.torch_threads is {wanted}"
    )
    assert service.models.version == model.version
    assert len(service.catalogue.users) == 1000 and len(service.catalogue.items) == 1000


def test_readiness_probes_what_the_served_model_reads(opened, model) -> None:
    """One read of each view the model reads, of its features: not a fixed view."""
    service, _ = opened
    reads: dict[str, list[str]] = {}
    original = service.store.online.read_batch

    def recording(view, keys, features):
        reads.setdefault(view, []).extend(features)
        return original(view, keys, features)

    service.store.online.read_batch = recording
    try:
        ready, detail = asyncio.run(service.readiness())
    finally:
        del service.store.online.read_batch
    assert ready, detail
    assert detail["model_version"] == model.version
    wanted: dict[str, list[str]] = {}
    for ref in model.metadata["features"]:
        view, _, name = ref.partition(":")
        wanted.setdefault(view, []).append(name)
    assert {v: sorted(f) for v, f in reads.items()} == {
        v: sorted(f) for v, f in wanted.items()
    }


def test_a_closing_service_is_not_ready(opened) -> None:
    service, _ = opened
    service.closing = True
    try:
        ready, detail = asyncio.run(service.readiness())
    finally:
        service.closing = False
    assert not ready, f"ready while shutting down: {detail}"
    assert detail.get("reason"), detail


def test_a_stuck_store_is_not_ready_within_the_probe_timeout(opened) -> None:
    """The probe runs in a thread and is bounded: a hung store means 'not ready', fast."""
    from labs.online_serving.service import READY_PROBE_TIMEOUT_S

    service, _ = opened
    stuck_s = READY_PROBE_TIMEOUT_S + 1.2
    # The store hangs until the probe has answered (at most stuck_s): the
    # thread then ends at once instead of holding asyncio.run's exit.
    answered = threading.Event()

    def hung(view, keys, features):
        answered.wait(stuck_s)
        raise ConnectionError("the store never answered")

    async def probe() -> tuple[bool, dict, float]:
        began = time.perf_counter()
        try:
            ready, detail = await service.readiness()
        finally:
            answered.set()
        return ready, detail, time.perf_counter() - began

    service.store.online.read_batch = hung
    try:
        ready, detail, elapsed = asyncio.run(probe())
    finally:
        del service.store.online.read_batch
    assert not ready, detail
    assert elapsed < READY_PROBE_TIMEOUT_S + 0.6, (
        f"readiness took {elapsed:.2f} s against a hung store: run the probe in a "
        f"thread, under a {READY_PROBE_TIMEOUT_S} s timeout"
    )


def test_health_and_readiness_report_the_served_model(url, model) -> None:
    check_health(url, model.version)
    info = httpx.get(url + "/info").json()
    assert info["model_version"] == model.version
    assert info["features"] == model.metadata["features"]  # the model's, in order


def test_wrong_types_and_shapes_are_422_naming_the_field(url) -> None:
    check_invalid_bodies(url)


def test_nan_infinity_and_1e400_are_422_naming_the_field(url) -> None:
    check_non_standard_numbers(url)


def test_oversized_lists_and_unknown_ids_are_4xx_naming_the_field(url) -> None:
    check_domain_errors(url, max_candidates=200)


def test_the_model_and_store_are_opened_once(url) -> None:
    """Readiness answers fast and the same model version every time (no reloads)."""
    with httpx.Client(base_url=url) as client:
        versions = {client.get("/readyz").json()["model_version"] for _ in range(5)}
        assert len(versions) == 1
        elapsed = [client.get("/readyz").elapsed.total_seconds() for _ in range(5)]
    assert min(elapsed) < 0.5, (
        f"/readyz is slow ({elapsed}): is something loaded per request?"
    )


def _is_valid(body: object, route: str) -> bool:
    """Would the service score this body? (Then it is not a bad request.)"""
    from labs.online_serving import RankRequest, ScoreRequest

    schema = ScoreRequest if route == "/score" else RankRequest
    try:
        parsed = schema.model_validate(body, strict=True)
    except Exception:
        return False
    items = [parsed.item_id] if route == "/score" else parsed.item_ids
    return parsed.user_id < 1000 and len(items) <= 200 and all(i < 1000 for i in items)


# Finite floats: JSON has no infinity, and httpx refuses to encode one (raw
# NaN, Infinity and 1e400 are test_nan_infinity_and_1e400_are_422_naming_the_field's).
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
ids = st.integers(min_value=-5, max_value=3000) | json_values
bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "user_id": ids,
            "item_id": ids,
            "item_ids": st.lists(ids, max_size=6) | json_values,
        },
    )
    | json_values
)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """One kept-alive connection for the fuzz's requests, not a new one for each."""
    with httpx.Client() as opened:
        yield opened


@settings(max_examples=60)
@given(body=bodies, route=st.sampled_from(["/score", "/rank"]))
def test_any_bad_body_is_a_4xx_never_a_5xx(url, client, body, route) -> None:
    assume(not _is_valid(body, route))
    response = client.post(url + route, json=body)
    assert 400 <= response.status_code < 500, (
        body,
        response.status_code,
        response.text,
    )
    assert response.json()["detail"], response.text


def test_non_json_bytes_are_422(url) -> None:
    for raw in (b"", b"\xff\xfe", b"user_id=7&item_id=1", b"[1,", b"nul"):
        response = httpx.post(
            url + "/rank", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (raw, response.text)
        assert response.json()["detail"][0]["loc"][0] == "body"

"""m4: design variants as settings, and one comparison run across them.

Oracles: the online-serving settings each design must produce (field names
from ``labs/online_serving/settings.py``); and two slowed servers whose
capacities (250 and 50 requests/s) are known, so the comparison must rank
them, plus one that cannot start (no redis-server) and must be reported. The SLO is generous
(300 ms) because a shared machine stalls processes now and then; at twice
its capacity the slow server's queue (~40 requests of 20 ms by the end of
the step) still passes it.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from infra.apps import SLOW_APP
from labs.load_testing.capacity import capacity_sweep
from labs.load_testing.slow_app import ENV
from labs.load_testing.variants import (
    Variant,
    compare_variants,
    serving_variants,
    start_plain,
    variant_overrides,
)


def test_variant_overrides_turn_designs_into_service_settings() -> None:
    on, off, two, redis = serving_variants()
    assert variant_overrides(on) == {
        "max_batch_size": 32, "store_backend": "sqlite", "store_url": None,
    }  # fmt: skip
    assert variant_overrides(off)["max_batch_size"] == 1
    assert variant_overrides(two) == variant_overrides(on) and two.workers == 2
    url = "redis://127.0.0.1:6390/0"
    assert variant_overrides(redis, url) == {
        "max_batch_size": 32, "store_backend": "redis", "store_url": url,
    }  # fmt: skip
    with pytest.raises(ValueError, match="redis store"):
        variant_overrides(redis)


@pytest.mark.given
def test_serving_variants_by_name() -> None:
    assert [v.name for v in serving_variants(["batching off"])] == ["batching off"]
    with pytest.raises(ValueError, match="unknown variants"):
        serving_variants(["gpu"])


@pytest.mark.server
def test_compare_variants_ranks_servers_of_known_capacity() -> None:
    requests = [("/score", {"user_id": i, "item_id": i}) for i in range(20)]
    variants = [
        Variant("fast", app=SLOW_APP, env=((ENV, "4"),)),
        Variant("slow", app=SLOW_APP, env=((ENV, "20"),)),
        Variant("no redis", store="redis"),
    ]

    def start(variant: Variant) -> Any:
        if variant.store == "redis":  # as start_redis does without the binary
            raise RuntimeError("redis-server is not on PATH; install it")
        return start_plain(variant)

    seen: list[str] = []

    def sweep(server: object) -> object:
        seen.append(server.url)  # type: ignore[attr-defined]
        url = server.url  # type: ignore[attr-defined]
        return capacity_sweep(url, requests, [25, 100], slo_ms=300, duration_s=0.8)

    comparison = compare_variants(variants, start, sweep, slo_ms=300)  # type: ignore[arg-type]
    assert len(seen) == 2 and seen[0] != seen[1]
    rows = {row["variant"]: row for row in comparison.rows()}
    assert list(rows) == ["fast", "slow", "no redis"]
    assert rows["fast"]["knee rps"] == 100
    assert rows["slow"]["knee rps"] == 25
    assert rows["fast"]["p99 at knee ms"] <= 300
    assert math.isnan(rows["no redis"]["knee rps"])
    assert "did not start" in rows["no redis"]["note"]
    assert "redis-server is not on PATH" in rows["no redis"]["note"]
    assert [o.variant.name for o in comparison.swept()] == ["fast", "slow"]

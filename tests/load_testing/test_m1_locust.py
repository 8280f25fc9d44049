"""m1: ShopStream-shaped requests, locust in its own process, its CSV parsed.

Oracles: a hand-written stats CSV (and the same table with its columns in
another order, as other locust versions write it); scipy's chi-square test
for the draws; a generator whose uniforms are pinned to the CDF's edges; a
real locust run against the empty endpoint (no failures) and against a port
where nothing listens (every request a failure, none hidden).
"""

from __future__ import annotations

import csv
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from infra.ports import free_port
from labs.load_testing.locust_run import LocustError, parse_locust_csv, run_locust
from labs.load_testing.workload import weighted_draw

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)
ROWS = [
    "POST,/score,300,3,6,8.5,1.7,74.3,36.0,150.0,1.5,6,9,10,11,16,20,30,53,74,74,74",
    "POST,/rank,100,0,12,14.0,3.0,410.0,900.0,50.0,0.0,12,13,14,15,20,31,90,140,410,410,410",
    "GET,/idle,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A",
    ",Aggregated,400,3,7,9.9,1.7,410.0,252.0,200.0,1.5,7,10,11,12,18,25,53,99,410,410,410",
]


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_parse_locust_csv_reads_the_aggregated_row_and_routes(tmp_path: Path) -> None:
    stats = parse_locust_csv(write_csv(tmp_path / "out_stats.csv", ROWS))
    assert (stats.name, stats.count, stats.failures) == ("Aggregated", 400, 3)
    assert isinstance(stats.count, int) and isinstance(stats.failures, int)
    assert (stats.rps, stats.p50_ms, stats.p95_ms, stats.p99_ms) == (200.0, 7, 25, 99)
    assert (stats.mean_ms, stats.max_ms) == (9.9, 410.0)
    assert stats.failure_rate == pytest.approx(3 / 400)
    assert sorted(stats.routes) == ["/idle", "/rank", "/score"]
    assert stats.routes["/rank"].p99_ms == 140 and stats.routes["/score"].failures == 3
    assert math.isnan(stats.routes["/idle"].p50_ms)  # N/A: no samples, not zero


def test_parse_locust_csv_reads_columns_by_name_in_any_order(tmp_path: Path) -> None:
    # locust versions add and move columns; the header says which is which.
    table = list(csv.DictReader([HEADER, *ROWS]))
    columns = HEADER.split(",")
    moved = [*columns[::-1][:5], "Extra Column", *columns[::-1][5:]]
    path = tmp_path / "moved_stats.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, moved)
        writer.writeheader()
        writer.writerows({**row, "Extra Column": "7"} for row in table)
    moved_stats = parse_locust_csv(path)
    stats = parse_locust_csv(write_csv(tmp_path / "out_stats.csv", ROWS))
    assert (moved_stats.count, moved_stats.failures, moved_stats.rps) == (400, 3, 200.0)
    assert (moved_stats.p50_ms, moved_stats.p95_ms, moved_stats.p99_ms) == (7, 25, 99)
    assert (moved_stats.mean_ms, moved_stats.max_ms) == (9.9, 410.0)
    assert moved_stats.routes["/rank"] == stats.routes["/rank"]
    assert moved_stats.routes["/score"] == stats.routes["/score"]


def test_parse_locust_csv_refuses_a_file_without_the_aggregated_row(
    tmp_path: Path,
) -> None:
    with pytest.raises(LocustError, match="Aggregated"):
        parse_locust_csv(write_csv(tmp_path / "out_stats.csv", ROWS[:2]))


def test_weighted_draw_follows_the_weights() -> None:
    ids = np.array([10, 20, 30, 40, 50])
    weights = np.array([0.5, 0.2, 0.2, 0.1, 0.0])
    draws = weighted_draw(ids, weights, 20_000, np.random.default_rng(0))
    counts = np.array([(draws == i).sum() for i in ids])
    assert counts[-1] == 0, "an id of weight 0 was drawn"
    chi2 = scipy_stats.chisquare(counts[:-1], 20_000 * weights[:-1])
    assert chi2.pvalue > 1e-3, f"draws {counts} do not follow the weights {weights}"


def test_weighted_draw_takes_weights_that_do_not_sum_to_one() -> None:
    # Weights are relative (impression counts, say): only their ratios matter.
    ids = np.array([10, 20, 30, 40, 50])
    weights = np.array([5.0, 2.0, 2.0, 1.0, 0.0])
    draws = weighted_draw(ids, weights, 20_000, np.random.default_rng(0))
    counts = np.array([(draws == i).sum() for i in ids])
    assert counts[-1] == 0, "an id of weight 0 was drawn"
    expected = 20_000 * weights[:-1] / weights.sum()
    chi2 = scipy_stats.chisquare(counts[:-1], expected)
    assert chi2.pvalue > 1e-3, f"draws {counts} do not follow the weights {weights}"


class PinnedUniforms(np.random.Generator):
    """A generator whose ``random(n)`` returns chosen uniforms (the rest is PCG64)."""

    def __init__(self, uniforms: list[float]):
        super().__init__(np.random.PCG64(0))
        self.uniforms = np.array(uniforms)

    def random(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        return np.resize(self.uniforms, size).astype(np.float64)


def test_weighted_draw_never_draws_a_zero_weight_id_at_the_edges() -> None:
    # u = 0 and u landing exactly on a cumulative weight are where a search for the
    # first cdf[k] ≥ u (instead of > u) picks the id *before* the step: weight 0.
    ids = np.array([10, 20, 30, 40, 50])
    weights = np.array([0.0, 1.0, 0.0, 1.0, 0.0])
    uniforms = [0.0, 0.5, 0.25, 0.75, 1 - 2**-53]
    draws = weighted_draw(ids, weights, 5, PinnedUniforms(uniforms))
    assert set(draws.tolist()) <= {20, 40}, (
        f"draws {draws.tolist()} for uniforms {uniforms} include an id of weight 0"
    )


@given(
    weights=st.lists(st.integers(0, 5), min_size=1, max_size=20).filter(any),
    n=st.integers(0, 200),
    seed=st.integers(0, 2**16),
)
def test_weighted_draw_only_draws_ids_with_weight(
    weights: list[int], n: int, seed: int
) -> None:
    ids = np.arange(100, 100 + len(weights))
    draws = weighted_draw(ids, np.array(weights, float), n, np.random.default_rng(seed))
    assert draws.shape == (n,)
    allowed = {int(i) for i, w in zip(ids, weights, strict=True) if w > 0}
    assert set(draws.tolist()) <= allowed


def test_workload_has_shopstreams_hot_users_and_items(workload: Any) -> None:
    requests = workload.requests(4000, seed=1)
    users = np.array([body["user_id"] for _, body in requests])
    routes = [route for route, _ in requests]
    share = routes.count("/rank") / len(routes)
    assert 0.1 < share < 0.3, f"/rank share {share:.2f}, expected ~1/5"
    # The hottest 1% of users send far more than 1% of requests (ShopStream: >10%).
    _, counts = np.unique(users, return_counts=True)
    top = np.sort(counts)[::-1][: max(1, len(workload.users) // 100)].sum()
    assert top / len(users) > 0.05, f"top 1% of users send {top / len(users):.1%}"
    known = set(workload.items.tolist())
    for route, body in requests[:200]:
        if route == "/rank":
            assert len(set(body["item_ids"])) == workload.rank_candidates
            assert set(body["item_ids"]) <= known


@pytest.fixture(scope="module")
def locust_runs(
    bare_server: Any, workload: Any, tmp_path_factory: Any
) -> dict[str, Any]:
    """Two locust runs side by side: the empty endpoint, and a port nobody listens on."""
    dead = f"http://127.0.0.1:{free_port()}"
    with ThreadPoolExecutor(2) as pool:
        good = pool.submit(run_locust, bare_server.url, workload, users=4, duration_s=3)
        bad = pool.submit(
            run_locust,
            dead,
            workload,
            users=2,
            duration_s=3,
            log_dir=tmp_path_factory.mktemp("dead"),
        )
        return {"good": good.result(), "dead": bad.result()}


# Each run is bounded (duration + STARTUP_GRACE_S); on a busy machine locust's
# start-up alone can take tens of seconds, hence the longer per-test timeout.
@pytest.mark.server
@pytest.mark.timeout(180)
def test_locust_against_the_empty_endpoint(locust_runs: dict[str, Any]) -> None:
    stats = locust_runs["good"]
    assert stats.count > 0 and stats.failures == 0, stats
    assert stats.rps > 0
    assert 0 < stats.p50_ms <= stats.p95_ms <= stats.p99_ms
    # locust rounds times above 100 ms to two significant digits (197 → 200).
    assert stats.p99_ms <= 1.05 * stats.max_ms + 1
    assert "/score" in stats.routes and set(stats.routes) <= {"/score", "/rank"}
    assert sum(r.count for r in stats.routes.values()) == stats.count


@pytest.mark.server
@pytest.mark.timeout(180)
def test_locust_counts_every_failure(locust_runs: dict[str, Any]) -> None:
    stats = locust_runs["dead"]
    assert stats.count > 0 and stats.failures == stats.count, stats


@pytest.mark.given
def test_locust_refuses_a_remote_host(workload: Any) -> None:
    with pytest.raises(ValueError, match="on this machine"):
        run_locust("http://example.com:80", workload, duration_s=1)

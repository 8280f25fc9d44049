"""m6 — scale out: the same app as a Ray Serve deployment with 2 replicas.

The HTTP contract checks of m1 and m2 run unchanged against Serve's proxy.
Serve is deployed once for the session, in the background from the start
(``serve_url`` in conftest.py: it takes tens of seconds), and stopped at the
end.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from serving_contract import (
    check_domain_errors,
    check_health,
    check_invalid_bodies,
    check_non_standard_numbers,
    check_scores,
)

from infra.loadgen import run_load

pytestmark = [pytest.mark.ray, pytest.mark.server, pytest.mark.timeout(240)]


def test_two_replicas_are_running(serve_url) -> None:
    from ray import serve

    from labs.online_serving.serve_app import APP_NAME

    app = serve.status().applications[APP_NAME]
    replicas = {
        name: dict(deployment.replica_states)
        for name, deployment in app.deployments.items()
    }
    assert replicas == {"RankingDeployment": {"RUNNING": 2}}, replicas


def test_health_through_serve(serve_url, model) -> None:
    """The replicas serve the settings the deploy was given (batches of 16), not defaults."""
    check_health(serve_url, model.version)
    info = httpx.get(serve_url + "/info").json()
    assert info["max_batch_size"] == 16, (
        f"the replicas run max_batch_size={info['max_batch_size']}: build the app "
        "from the settings passed to the deployment"
    )


def test_bad_requests_through_serve(serve_url) -> None:
    check_invalid_bodies(serve_url)
    check_non_standard_numbers(serve_url)
    check_domain_errors(serve_url, max_candidates=200)


def test_scores_through_serve_equal_the_offline_scores(
    serve_url, oracle, model, active_user, idle_user
) -> None:
    items = np.random.default_rng(6).choice(1000, size=25, replace=False).tolist()
    check_scores(serve_url, oracle, model.version, active_user, items)
    check_scores(serve_url, oracle, model.version, idle_user, items[:5])


def test_load_through_serve_fails_nothing(serve_url) -> None:
    result = run_load(
        serve_url,
        "/score",
        [{"user_id": k, "item_id": (3 * k) % 1000} for k in range(200)],
        concurrency=8,
        duration_s=1.0,
        max_requests=5_000,
    )
    assert result.failed == 0 and result.ok > 0, result

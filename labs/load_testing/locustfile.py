"""The locust user: a shopper who asks the ranking service to score and rank.

Never import this module in a test or a server: importing locust
monkey-patches the standard library with gevent. ``locust_run.run_locust``
starts it in its own process::

    LABKIT_LOCUST_SPEC=spec.json python -m locust -f labs/load_testing/locustfile.py \\
        --headless -u 20 -r 20 -t 10s --csv out --host http://127.0.0.1:8000

The spec (``Workload.write_locust_spec``) holds ready-made bodies with
ShopStream's hot users and items, the weights of the two routes, and the
think time, a uniform pause between a user's requests: a real user reads
the page before clicking again, so a user population offers
``users / (think time + latency)`` requests per second (closed loop).

A request that fails, whether by status (4xx/5xx) or by transport, is
reported to locust as a failure; nothing is retried or hidden.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from locust import HttpUser, between, constant

SPEC_ENV = "LABKIT_LOCUST_SPEC"


# Without a spec (e.g. an import check) the user sends empty bodies, which the
# service refuses: every request then shows up as a failure, never as a success.
EMPTY_SPEC = {
    "score": [],
    "rank": [],
    "score_weight": 1,
    "rank_weight": 0,
    "think_time_s": [0, 0],
}


def _spec() -> dict[str, Any]:
    """The spec named by ``LABKIT_LOCUST_SPEC`` (see ``run_locust``)."""
    path = os.environ.get(SPEC_ENV)
    return json.loads(Path(path).read_text()) if path else EMPTY_SPEC


SPEC = _spec()


def _post(user: HttpUser, route: str, bodies: Any) -> None:
    body = next(bodies)
    with user.client.post(
        route, json=body, name=route, catch_response=True
    ) as response:
        if (
            response.status_code == 0
        ):  # no HTTP answer at all: refused, reset, timed out
            response.failure(f"no response: {response.error!r}")
        elif response.status_code != 200:
            response.failure(f"HTTP {response.status_code}")
        else:
            response.success()


class Shopper(HttpUser):
    """Scores and ranks with ShopStream's id skew, pausing between requests."""

    low, high = SPEC["think_time_s"]
    wait_time = between(low, high) if high > 0 else constant(0)

    def on_start(self) -> None:
        # Each user walks the bodies from its own starting point.
        offset = id(self) % 997
        self.score_bodies = itertools.islice(
            itertools.cycle(SPEC["score"] or [{}]), offset, None
        )
        self.rank_bodies = itertools.islice(
            itertools.cycle(SPEC["rank"] or [{}]), offset, None
        )

    def score(self) -> None:
        _post(self, "/score", self.score_bodies)

    def rank(self) -> None:
        _post(self, "/rank", self.rank_bodies)

    tasks: ClassVar[dict[Any, int]] = {
        task: weight
        for task, weight in ((score, SPEC["score_weight"]), (rank, SPEC["rank_weight"]))
        if weight > 0
    }

"""The same FastAPI app as a Ray Serve deployment: replicas behind Serve's HTTP proxy.

    from infra.ray_session import init_ray
    from labs.online_serving.serve_app import deploy, shutdown
    init_ray()
    url = deploy(Settings(preset="tiny"), port=free_port(), num_replicas=2)
    httpx.post(url + "/score", json={"user_id": 7, "item_id": 42})
    shutdown()

Scaling past one machine means more copies of the service behind something
that spreads requests over them. Serve gives both: a proxy actor that takes
HTTP on ``127.0.0.1:<port>`` and routes each request to a replica (an actor
running our ASGI app), replicas placed anywhere in the Ray cluster, and
``num_replicas`` (or autoscaling on in-flight requests) to choose how many.

The app is **built on the replica** (``__serve_build_asgi_app__``), from
settings passed as a plain dict, so the model, the store connection and the
batcher's event-loop task are created where they run, never pickled from the
driver; Serve then runs the app's lifespan there, exactly as uvicorn does.
Each replica asks for half a CPU (``num_cpus=0.5``) so two fit on a 2-core
machine beside the proxy, and admits up to ``max_ongoing_requests``
concurrent requests: our own micro-batcher needs many in flight per
replica to form batches (Serve's default admits only a few).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi import FastAPI
from ray import serve

from infra.ports import HOST
from labs.online_serving.main import create_app
from labs.online_serving.settings import Settings

APP_NAME = "online_serving"
READY_TIMEOUT_S = 120.0


# A replica that cannot start (a bad setting, a broken app) fails the deploy
# after 3 tries instead of Serve's default 20, which would take minutes. On
# shutdown a replica checks for requests in flight every 0.2 s (default 2 s)
# before it stops; the app's lifespan then drains what it has admitted.
@serve.deployment(
    ray_actor_options={"num_cpus": 0.5},
    max_ongoing_requests=64,
    max_constructor_retry_count=3,
    graceful_shutdown_wait_loop_s=0.2,
)
@serve.ingress()
class RankingDeployment:
    """One replica: the ranking service's FastAPI app, built and served in this actor."""

    def __init__(self, settings: dict[str, Any]):
        self.settings = Settings(**settings)

    def __serve_build_asgi_app__(self) -> FastAPI:
        # BEGIN SOLUTION m6: return the very app uvicorn serves, built from self.settings (Serve runs its lifespan here)
        return create_app(self.settings)
        # END SOLUTION


def deploy(
    settings: Settings,
    *,
    port: int,
    num_replicas: int = 2,
    num_cpus: float = 0.5,
    max_ongoing_requests: int = 64,
) -> str:
    """Start Serve's proxy on ``127.0.0.1:port`` and run the service there.

    Ray must already be running (``infra.ray_session.init_ray``). Returns the
    base URL once every replica answers ``/readyz``.
    """
    # BEGIN SOLUTION m6: serve.start with http_options on HOST:port, then serve.run RankingDeployment.options(num_replicas, ray_actor_options={"num_cpus": ...}, max_ongoing_requests) bound to settings.model_dump(mode="json"), named APP_NAME at route_prefix "/"
    serve.start(http_options={"host": HOST, "port": port})
    deployment = RankingDeployment.options(
        num_replicas=num_replicas,
        ray_actor_options={"num_cpus": num_cpus},
        max_ongoing_requests=max_ongoing_requests,
    )
    serve.run(
        deployment.bind(settings.model_dump(mode="json")),
        name=APP_NAME,
        route_prefix="/",
    )
    # END SOLUTION
    url = f"http://{HOST}:{port}"
    wait_ready(url)
    return url


def wait_ready(url: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll ``/readyz`` through the proxy until it answers 200."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url + "/readyz", timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"Ray Serve at {url} was not ready within {timeout_s} s: {last}")


def shutdown() -> None:
    """Delete every Serve application and stop Serve's actors (Ray keeps running).

    Safe to call when Serve never started (nothing to shut down).
    """
    serve.shutdown()

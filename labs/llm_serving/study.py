"""Load studies over HTTP: the service under open-loop streaming load, mode by mode.

    with serving(mode_settings("continuous+paged", preset="small")) as server:
        point = load_point(server.url, bodies, rate=20, duration_s=8, slo=SLO())

Three modes, one code base (``settings.py``):

- ``static``: static batching over max-length preallocation (the baseline);
- ``continuous``: continuous batching over the same contiguous cache;
- ``continuous+paged``: continuous batching over the paged cache.

All three get the same KV memory (``KV_WINDOWS`` context windows' worth of
token slots) and the same batch limit; what differs is how they use them.
The server runs in its own process pinned to one core, the load generator
(``infra/sse_load.py``) in another pinned to the other, on 127.0.0.1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from infra.cpus import client_cpu, pin, server_cpu
from infra.sse_load import run_sse_load
from infra.uvicorn_server import UvicornServer, start_uvicorn
from labs.llm_serving.load_metrics import SLO, load_summary
from labs.llm_serving.settings import Settings

log = logging.getLogger(__name__)

APP = "labs.llm_serving.main:create_app"
MODES: dict[str, dict[str, str]] = {
    "static": {"scheduler": "static", "kv_cache": "contiguous"},
    "continuous": {"scheduler": "continuous", "kv_cache": "contiguous"},
    "continuous+paged": {"scheduler": "continuous", "kv_cache": "paged"},
}
CONTEXT = {"tiny": 128, "small": 256}  # each preset's context window (checkpoint.py)
KV_WINDOWS = 8  # the KV budget: this many context windows of token slots
MAX_NUM_SEQS = 32
WARM_UP_REQUESTS = 4


def mode_settings(mode: str, *, preset: str = "small", **overrides: Any) -> Settings:
    """The service's settings for one mode, with the study's shared budget."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {sorted(MODES)}.")
    values: dict[str, Any] = {
        "preset": preset,
        "device": "cpu",
        "kv_cache_tokens": KV_WINDOWS * CONTEXT[preset],
        "max_num_seqs": MAX_NUM_SEQS,
        "max_tokens_limit": CONTEXT[preset],
        **MODES[mode],
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def serving(settings: Settings, *, timeout_s: float = 90.0) -> Iterator[UvicornServer]:
    """The service under uvicorn on 127.0.0.1, pinned to the server's core; always stopped."""
    server = start_uvicorn(
        APP, env=settings.as_env(), health_path="/readyz", timeout_s=timeout_s
    )
    try:
        pin(server.process.pid, server_cpu())
        yield server
    finally:
        server.stop()


def warm_up(url: str, bodies: Sequence[dict[str, Any]]) -> None:
    """A few requests first, so the first measured ones pay no start-up cost."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for body in list(bodies)[:WARM_UP_REQUESTS]:
            client.post("/generate", json={**body, "stream": False}).raise_for_status()


def scrape(url: str, name: str) -> float:
    """One sample of a metric from /metrics (0 if absent)."""
    text = httpx.get(url + "/metrics", timeout=10.0).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def load_point(
    url: str,
    bodies: Sequence[dict[str, Any]],
    *,
    rate: float,
    duration_s: float,
    slo: SLO,
    seed: int = 0,
    drain_s: float = 15.0,
) -> dict[str, Any]:
    """One open-loop run at ``rate`` requests/s: :func:`load_summary` plus what the server counted."""
    payloads = [{**body, "stream": True} for body in bodies]
    preempted_before = scrape(url, "llm_preemptions_total")
    run = run_sse_load(
        url,
        "/generate",
        payloads,
        rate=rate,
        duration_s=duration_s,
        max_requests=max(1, int(rate * duration_s * 3)),
        timeout_s=duration_s + drain_s,
        drain_s=drain_s,
        seed=seed,
        cpu=client_cpu(),
    )
    point = load_summary(run["requests"], duration_s=duration_s, slo=slo)
    point["rate"] = rate
    point["max_send_lag_s"] = run["max_send_lag_s"]
    point["preemptions"] = scrape(url, "llm_preemptions_total") - preempted_before
    log.info(
        "rate %.1f: %d offered, %d done, %d rejected; %.0f tokens/s; TTFT p99 %.3f s; "
        "goodput %.2f req/s",
        rate,
        point["offered"],
        point["completed"],
        point["rejected"],
        point["tokens_per_s"],
        point["ttft_p99_s"],
        point["goodput_rps"],
    )
    return point


def sweep(
    mode: str,
    rates: Sequence[float],
    bodies: Sequence[dict[str, Any]],
    *,
    preset: str,
    duration_s: float,
    slo: SLO,
    drain_s: float = 15.0,
    then: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """``load_point`` at each rate against one server of ``mode``; then ``then(url)``."""
    points = []
    with serving(mode_settings(mode, preset=preset)) as server:
        warm_up(server.url, bodies)
        for i, rate in enumerate(rates):
            point = load_point(
                server.url,
                bodies,
                rate=rate,
                duration_s=duration_s,
                slo=slo,
                seed=i,
                drain_s=drain_s,
            )
            points.append({"mode": mode, **point})
        if then is not None:
            then(server.url)
    return points

"""Measuring the service for ``run.py`` and ``bench.py``: servers, payloads, scrapes.

    with serving(Settings(preset="small"), cpu=0) as server:
        before = scrape(server.url)
        load = run_load(server.url, "/score", score_payloads("small", 2000), cpu=1)
        budget = stage_budget(before, scrape(server.url))   # mean ms per stage

Servers run as uvicorn subprocesses on 127.0.0.1, the load generator in a
process of its own. On a 2-core machine the server is pinned to core 0 and
the generator to core 1 (``infra/cpus.py``), the setup of the figures this
lab is compared with, so neither steals the other's core between runs.
Server-side figures (batch sizes, the time per stage, fallbacks) come from
differences of two ``/metrics`` scrapes around a load run.

With ``--mine`` a candidate's copy may not implement every milestone yet:
:meth:`Implemented.check` asks the results which ones it does, and the run
and the bench measure only what needs no missing milestone, with the later
features switched off as the milestone tests do (the page says what was
skipped).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from common.results import Results
from infra.apps import BARE_APP, SERVING_APP
from infra.cpus import SERVER_CPU, client_cpu, pin
from infra.cpus import load_average as load_average  # for run.py and bench.py
from infra.cpus import two_cores as two_cores  # for run.py and bench.py
from infra.loadgen import LoadResult, run_load
from infra.uvicorn_server import UvicornServer, start_uvicorn
from labs.online_serving.features import Catalogue
from labs.online_serving.metrics import STAGES
from labs.online_serving.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Implemented:
    """Which of the service's features the measured code implements."""

    batching: bool  # m3: the micro-batcher
    resilience: bool  # m4: timeout, bounded queue, hot swap, drain
    metrics: bool  # m5: /metrics, the server-side figures
    serve: bool  # m6: Ray Serve

    @classmethod
    def check(cls, results: Results) -> Implemented | None:
        """What can be measured; ``None`` when nothing can (no scoring yet)."""
        if not results.needs("m1", "m2", what="every measurement (no request scores)"):
            return None
        return cls(
            batching=results.needs(
                "m3", what="batching on (runs use max_batch_size=1)"
            ),
            resilience=results.needs(
                "m4", what="the feature timeout, the bounded queue and the hot swap"
            ),
            metrics=results.needs(
                "m5", what="server-side figures: stage budget, batch sizes, fallbacks"
            ),
            serve=results.needs("m6", what="Ray Serve"),
        )

    def settings(self, **knobs: Any) -> Settings:
        """Settings with ``knobs``, and every feature the code lacks switched off."""
        if not self.batching:
            knobs["max_batch_size"] = 1
        if not self.resilience:
            knobs.update(
                feature_timeout_s=0,
                max_queue_size=0,
                model_poll_s=0,
                shutdown_grace_s=0,
            )
        if not self.metrics:
            knobs["metrics"] = False
        return Settings(**knobs)


def start(
    settings: Settings | None, *, cpu: int | None = SERVER_CPU, port: int | None = None
) -> UvicornServer:
    """The ranking service (or the bare app, for ``None``) on ``port`` (or a free one), ready."""
    if settings is None:
        server = start_uvicorn(BARE_APP, port=port)
    else:
        server = start_uvicorn(
            SERVING_APP, env=settings.as_env(), health_path="/readyz", port=port
        )
    pin(server.process.pid, cpu)
    return server


@contextmanager
def serving(
    *settings: Settings | None, cpu: int | None = SERVER_CPU
) -> Iterator[list[UvicornServer]]:
    """Start several servers side by side (start-up is mostly imports); stop them all."""
    started: list[UvicornServer] = []
    try:
        with ThreadPoolExecutor(max(1, len(settings))) as pool:
            futures = [pool.submit(start, s, cpu=cpu) for s in settings]
            for future in futures:
                with contextlib.suppress(Exception):
                    started.append(future.result())
            for future in futures:
                future.result()  # re-raise the first failure, after keeping the rest
        yield started
    finally:
        for server in started:
            server.stop()


@contextmanager
def private_registry(root: Path) -> Iterator[Path]:
    """A throw-away copy of a registry (for promotions that must not leak)."""
    with tempfile.TemporaryDirectory(prefix="labkit-registry-") as tmp:
        copy = Path(tmp) / root.name
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".lock"))
        yield copy


# --- payloads ------------------------------------------------------------------------


def score_payloads(preset: str, n: int, seed: int = 0) -> list[dict[str, int]]:
    """``n`` /score bodies: users and items drawn uniformly from the catalogue."""
    catalogue = Catalogue.from_shopstream(preset, 0)
    rng = np.random.default_rng(seed)
    users = rng.choice(catalogue.users, n)
    items = rng.choice(catalogue.items, n)
    return [
        {"user_id": int(u), "item_id": int(i)}
        for u, i in zip(users, items, strict=True)
    ]


def rank_payloads(
    preset: str, n: int, candidates: int = 100, seed: int = 0
) -> list[dict[str, Any]]:
    """``n`` /rank bodies, each with ``candidates`` distinct items."""
    catalogue = Catalogue.from_shopstream(preset, 0)
    rng = np.random.default_rng(seed)
    return [
        {
            "user_id": int(rng.choice(catalogue.users)),
            "item_ids": rng.choice(catalogue.items, candidates, replace=False).tolist(),
        }
        for _ in range(n)
    ]


# --- scrapes -------------------------------------------------------------------------

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of ``/metrics`` as ``(name, sorted labels) -> value`` (none when off)."""
    response = httpx.get(url + "/metrics", timeout=10)
    if response.status_code == 404:  # metrics switched off: no server-side figures
        return {}
    text = response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def stage_budget(before: Samples, after: Samples) -> dict[str, float]:
    """Mean milliseconds per request in each stage between two scrapes."""
    out = {}
    for stage in STAGES:
        count = delta(before, after, "labkit_stage_duration_seconds_count", stage=stage)
        total = delta(before, after, "labkit_stage_duration_seconds_sum", stage=stage)
        out[stage] = 1e3 * total / count if count else float("nan")
    return out


def server_mean_ms(before: Samples, after: Samples, route: str) -> float:
    """Mean ms of 200 responses on ``route`` as the server timed them."""
    name = "labkit_request_duration_seconds"
    count = delta(before, after, name + "_count", route=route, status="200")
    total = delta(before, after, name + "_sum", route=route, status="200")
    return 1e3 * total / count if count else float("nan")


def mean_batch_size(before: Samples, after: Samples) -> float:
    batches = delta(before, after, "labkit_batch_size_count")
    requests = delta(before, after, "labkit_batch_size_sum")
    return requests / batches if batches else float("nan")


def scored_requests(before: Samples, after: Samples) -> float:
    """Requests that reached the scorer (the batch sizes add up to them)."""
    return delta(before, after, "labkit_batch_size_sum")


def fallbacks(before: Samples, after: Samples) -> float:
    return sum(
        delta(before, after, "labkit_fallbacks_total", reason=r)
        for r in ("timeout", "busy", "error")
    )


@dataclass
class Load:
    """How the run and the bench point load at a server, and the runs that saw nothing.

    ``load(url, "/score", payloads)`` runs :func:`infra.loadgen.run_load` with
    these settings (keywords override them) on the client's core. A run in
    which every request outlasted the window measures nothing (0 requests/s,
    p99 nan); it is logged and its path kept in ``empty``, so a report can say
    that the machine was overloaded rather than print a zero.
    """

    duration_s: float
    warmup_s: float
    max_requests: int
    concurrency: int = 32
    empty: list[str] = field(default_factory=list)

    def __call__(
        self, url: str, path: str, payloads: list[Any], **overrides: Any
    ) -> LoadResult:
        options = {
            "concurrency": self.concurrency,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "max_requests": self.max_requests,
            "cpu": client_cpu(),
            **overrides,
        }
        result = run_load(url, path, payloads, **options)
        if result.count == 0:
            self.empty.append(path)
            log.warning(
                "a load run on %s measured no request: each outlasted the %.1f s window",
                path,
                options["duration_s"],
            )
        return result


def row(label: str, result: LoadResult, **extra: Any) -> dict[str, Any]:
    """One table row of a load run: the client's view plus server-side extras."""
    return {
        "run": label,
        "requests/s": result.ok_rps,
        "p50 ms": result.p50_ms,
        "p99 ms": result.p99_ms,
        "failed": result.failed,
        **extra,
    }


# --- the model alone ---------------------------------------------------------------------


def model_rows_per_s(
    model: Any, batch_rows: Sequence[int], seconds: float = 0.4, seed: int = 0
) -> dict[int, float]:
    """``predict`` alone, in this process, one thread: rows/s at each batch size."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    features = model.metadata["features"]
    out: dict[int, float] = {}
    try:
        for n in batch_rows:
            frame = {
                "user_id": rng.integers(0, 1000, n),
                "item_id": rng.integers(0, 1000, n),
                **{f: rng.random(n) for f in features},
            }
            model.predict(frame)  # warm
            calls, began = 0, time.perf_counter()
            while time.perf_counter() - began < seconds or calls < 3:
                model.predict(frame)
                calls += 1
            out[n] = n * calls / (time.perf_counter() - began)
    finally:
        torch.set_num_threads(threads)
    return out

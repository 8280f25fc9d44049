"""Design comparison: the same capacity sweep across server variants, in one run.

    variants = serving_variants()      # batching on/off, 1 vs 2 workers, SQLite vs Redis
    comparison = compare_variants(variants, start_variant_for("small"), requests,
                                  rates_for=lambda probe: ..., slo_ms=50)
    comparison.rows()                         # knee throughput and p99 per variant

A :class:`Variant` names one design choice of the ranking service
(``labs/online_serving``) as settings: dynamic batching on
(``max_batch_size=32``) or off (``1``), one or two uvicorn worker processes,
and the online store (SQLite file or a private Redis). Each variant's server
is started on its own, swept, and stopped before the next, so variants never
compete for the cores. A variant that cannot start (no ``redis-server`` on a
laptop) is kept in the table with the reason, never silently dropped.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from infra.apps import SERVING_APP
from infra.cpus import pin
from infra.uvicorn_server import UvicornServer, start_uvicorn
from labs.load_testing.capacity import Sweep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One server design to sweep.

    Attributes:
        name: a short label for tables and plots.
        batching: dynamic micro-batching on (``max_batch_size=32``) or off (``1``).
        workers: uvicorn worker processes (each its own event loop and model).
        store: the online store backend.
        app, env: for servers other than the ranking service (tests use the
            slowed app): its import path and environment.
    """

    name: str
    batching: bool = True
    workers: int = 1
    store: Literal["sqlite", "redis"] = "sqlite"
    app: str = SERVING_APP
    env: tuple[tuple[str, str], ...] = ()


def serving_variants(which: Sequence[str] | None = None) -> list[Variant]:
    """The designs compared: the default service and one change at a time."""
    variants = [
        Variant("batching on"),
        Variant("batching off", batching=False),
        Variant("2 workers", workers=2),
        Variant("redis store", store="redis"),
    ]
    if which is None:
        return variants
    known = {v.name: v for v in variants}
    unknown = [name for name in which if name not in known]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {sorted(known)}.")
    return [known[name] for name in which]


def variant_overrides(variant: Variant, store_url: str | None = None) -> dict[str, Any]:
    """The online_serving ``Settings`` fields that make a server ``variant``.

    Batching on is ``max_batch_size=32`` (off: ``1``); the store is
    ``store_backend`` plus, for Redis, ``store_url``. The rest of the
    settings stay as they are.

    Raises:
        ValueError: a Redis variant without ``store_url``.
    """
    # BEGIN SOLUTION m4: max_batch_size 32 (batching on) or 1 (off); store_backend=variant.store, with store_url for redis (a ValueError naming the variant when there is none) and store_url=None otherwise
    overrides: dict[str, Any] = {"max_batch_size": 32 if variant.batching else 1}
    if variant.store == "redis":
        if not store_url:
            raise ValueError(
                f"variant {variant.name!r} uses the Redis store but no store_url was "
                "given; start one with infra.redis_server.start_redis()."
            )
        overrides.update(store_backend="redis", store_url=store_url)
    else:
        overrides.update(store_backend=variant.store, store_url=None)
    return overrides
    # END SOLUTION


StartServer = Callable[[Variant], AbstractContextManager[UvicornServer]]


def start_variant_for(
    preset: str, *, registry_root: str | None = None, server_cpu: int | None = None
) -> StartServer:
    """``start(variant)``: a context manager that runs the ranking service as ``variant``.

    A Redis variant gets a private ``redis-server`` for its lifetime. One-worker
    servers are pinned to ``server_cpu`` (two workers get every core).
    """
    from labs.online_serving.settings import Settings

    base = {"preset": preset, "registry_root": registry_root}

    @contextlib.contextmanager
    def start(variant: Variant) -> Iterator[UvicornServer]:
        with contextlib.ExitStack() as stack:
            store_url = None
            if variant.store == "redis":
                from infra.redis_server import start_redis

                redis = start_redis()
                stack.callback(redis.stop)
                store_url = redis.url
            settings = Settings(**base, **variant_overrides(variant, store_url))
            server = start_uvicorn(
                variant.app, env=settings.as_env(), workers=variant.workers,
                health_path="/readyz", timeout_s=180,
            )  # fmt: skip
            stack.callback(server.stop)
            if variant.workers == 1:
                pin(server.process.pid, server_cpu)
            yield server

    return start


def start_plain(variant: Variant) -> AbstractContextManager[UvicornServer]:
    """Start ``variant.app`` with ``variant.env`` (any app with ``/healthz``)."""

    @contextlib.contextmanager
    def start() -> Iterator[UvicornServer]:
        server = start_uvicorn(
            variant.app, env=dict(variant.env), workers=variant.workers
        )
        try:
            yield server
        finally:
            server.stop()

    return start()


@dataclass
class Outcome:
    """A variant's sweep, or why it has none."""

    variant: Variant
    sweep: Sweep | None = None
    skipped: str | None = None

    def row(self) -> dict[str, Any]:
        knee = self.sweep.knee if self.sweep else None
        return {
            "variant": self.variant.name,
            "knee rps": knee.offered_rps if knee else math.nan,
            "throughput at knee": knee.throughput_rps if knee else math.nan,
            "p99 at knee ms": knee.p99_ms if knee else math.nan,
            "p50 at knee ms": knee.p50_ms if knee else math.nan,
            "steps": len(self.sweep.steps) if self.sweep else 0,
            **self._bracket(),
            "note": self.skipped or self._note(),
        }

    def _bracket(self) -> dict[str, Any]:
        """The bisection's bracket and run count, when the knee was bisected."""
        search = self.sweep.search if self.sweep else None
        if search is None:
            return {}
        low, high = search.bracket
        return {
            "knee bracket rps": f"{low:,.0f}–{high:,.0f}",
            "runs": search.runs,
        }

    def _note(self) -> str:
        if self.sweep is None or not self.sweep.steps:
            return ""
        search = self.sweep.search
        if search is not None and search.note:
            return search.note
        knee = self.sweep.knee
        if knee is None:
            return "no step met the SLO"
        if knee is max(self.sweep.steps, key=lambda s: s.offered_rps):
            return "every step met the SLO: capacity is at least the knee"
        return ""


@dataclass
class Comparison:
    slo_ms: float
    outcomes: list[Outcome] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        return [o.row() for o in self.outcomes]

    def swept(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.sweep is not None]


def compare_variants(
    variants: Sequence[Variant],
    start: StartServer,
    sweep: Callable[[UvicornServer], Sweep],
    slo_ms: float,
) -> Comparison:
    """Sweep each variant in turn, on its own server, stopped before the next starts.

    Args:
        variants: the designs.
        start: ``start(variant)`` → a context manager yielding a running server.
        sweep: ``sweep(server)`` → that server's :class:`Sweep`.
        slo_ms: the SLO the knees are read at (recorded on the comparison).

    A variant whose server fails to start is kept with ``skipped`` = the reason;
    a failure *during* a sweep is an error (a broken measurement is not a result).
    """
    comparison = Comparison(slo_ms)
    # BEGIN SOLUTION m4: for each variant, enter start(variant) (an exception while starting → Outcome(variant, skipped=reason)), run sweep(server) inside it, and append Outcome(variant, sweep)
    for variant in variants:
        try:
            manager = start(variant)
            server = manager.__enter__()
        except Exception as exc:
            reason = (
                f"did not start: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            )
            log.warning("variant %s skipped: %s", variant.name, reason)
            comparison.outcomes.append(Outcome(variant, skipped=reason))
            continue
        try:
            result = sweep(server)
        except BaseException as exc:
            manager.__exit__(type(exc), exc, exc.__traceback__)
            raise
        manager.__exit__(None, None, None)
        comparison.outcomes.append(Outcome(variant, result))
    # END SOLUTION
    return comparison

"""Prometheus metrics of the ranking service, served at ``GET /metrics``.

    labkit_request_duration_seconds{route, status}   histogram: the whole request
    labkit_stage_duration_seconds{stage}             histogram: parse, queue, features,
                                                     model, serialise (per request)
    labkit_batch_size                                histogram: requests per model call
    labkit_queue_depth                               gauge: admitted, unanswered requests
    labkit_fallbacks_total{reason}                   counter: timeout, busy, error
    labkit_shed_total                                counter: 503s from a full queue
    labkit_model_info{version}                       gauge: 1 for the version served
    labkit_model_swaps_total                         counter: hot swaps
    labkit_model_refresh_failures_total{reason}      counter: swaps refused (the
                                                     error's type, e.g. IntegrityError)

Each app has its own ``CollectorRegistry`` (not the global one), so two apps
in one process (tests) never share counters. A histogram is the right type
for latency: percentiles cannot be averaged across replicas, bucket counts
can be summed, and ``histogram_quantile`` reads a percentile from them.

The declarations are given; what is measured where is the exercise (m5):

- ``RequestTimer``, a pure ASGI middleware (BaseHTTPMiddleware costs tens of
  microseconds a request), times each whole request: it stamps the arrival
  into the ASGI scope (``START_KEY``, where the *parse* stage starts) and
  observes the duration with its route and status, also when the app raises
  (500). Paths that are not routes are labelled ``other``, so a scanner
  cannot explode the number of time series.
- ``observe_stages`` splits one scored request into the stages of
  ``STAGES``; they add up to the request's time in the app, so the stage
  histogram says where a slow request's time went.
- ``set_model_version`` keeps exactly one ``labkit_model_info`` series.

With ``LABKIT_SERVING_METRICS=false`` the service uses :class:`NullMetrics`,
which records nothing, ``RequestTimer`` is not installed, and ``/metrics``
answers 404.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from labs.online_serving.scoring import Scored

START_KEY = "labkit.start"  # ASGI scope key: perf_counter() when the request arrived
STAGES = ("parse", "queue", "features", "model", "serialise")
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class NullMetrics:
    """The metrics interface, recording nothing (metrics switched off)."""

    content_type = "text/plain"

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        pass

    def observe_stages(
        self, scope: dict[str, Any], entered: float, scored: Scored, answered: float
    ) -> dict[str, float]:
        return {}

    def observe_batch(self, size: int) -> None:
        pass

    def count_fallback(self, reason: str, requests: int) -> None:
        pass

    def count_shed(self) -> None:
        pass

    def set_model_version(self, version: str) -> None:
        pass

    def count_refresh_failure(self, reason: str) -> None:
        pass

    def track_queue_depth(self, depth: Callable[[], int]) -> None:
        pass

    def render(self) -> bytes:
        return b""


class ServiceMetrics(NullMetrics):
    """The service's Prometheus metrics in a registry of their own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._version: str | None = None
        r = self.registry
        self.request_duration = Histogram(
            "labkit_request_duration_seconds",
            "Time from a request's arrival to its response, by route and status.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_duration = Histogram(
            "labkit_stage_duration_seconds",
            "Time each request spends in each stage of serving.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # One series per stage, looked up once: `labels()` takes a lock and a
        # dict lookup each call, and every scored request observes five stages.
        self.stage_series = {
            stage: self.stage_duration.labels(stage) for stage in STAGES
        }
        self._request_series: dict[tuple[str, int], Any] = {}
        self.batch_size = Histogram(
            "labkit_batch_size",
            "Requests scored by one model call.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "labkit_queue_depth",
            "Requests admitted and not yet answered.",
            registry=r,
        )
        self.fallbacks = Counter(
            "labkit_fallbacks",
            "Requests answered from popularity because the store did not answer.",
            ["reason"],
            registry=r,
        )
        self.shed = Counter(
            "labkit_shed",
            "Requests refused with 503 because the queue was full.",
            registry=r,
        )
        self.model_info = Gauge(
            "labkit_model_info",
            "1 for the model version being served.",
            ["version"],
            registry=r,
        )
        self.model_swaps = Counter(
            "labkit_model_swaps", "Hot swaps of the served model.", registry=r
        )
        self.refresh_failures = Counter(
            "labkit_model_refresh_failures",
            "Model refreshes that failed (the old model kept serving), by error type.",
            ["reason"],
            registry=r,
        )

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        series = self._request_series.get((route, status))
        if series is None:  # the first request of this route and status
            series = self.request_duration.labels(route, str(status))
            self._request_series[route, status] = series
        series.observe(seconds)

    def observe_stages(
        self, scope: dict[str, Any], entered: float, scored: Scored, answered: float
    ) -> dict[str, float]:
        """Record where one scored request's time went; return it for ``Server-Timing``.

        Called by the route as its response is ready (now). The stages are
        :data:`STAGES`, in seconds, and together they cover the request's time
        in the app, from ``RequestTimer``'s arrival stamp to now:

        - ``parse``: arrival (``scope[START_KEY]``) to ``entered``, when the
          route's code began (body read, decoded and validated);
        - ``queue``, ``features``, ``model``: the batch's figures in ``scored``;
        - ``serialise``: ``answered`` (the scores are back) to now.

        One observation per stage in ``labkit_stage_duration_seconds``.
        """
        # BEGIN SOLUTION m5: measure each stage of STAGES in seconds from the arrival stamp (scope[START_KEY]) to now, observe each in its series (self.stage_series[stage]), and return them
        done = time.perf_counter()
        stages = {
            "parse": entered - scope.get(START_KEY, entered),
            "queue": scored.queue_s,
            "features": scored.features_s,
            "model": scored.model_s,
            "serialise": done - answered,
        }
        for stage, seconds in stages.items():
            self.stage_series[stage].observe(seconds)
        return stages
        # END SOLUTION

    def observe_batch(self, size: int) -> None:
        self.batch_size.observe(size)

    def count_fallback(self, reason: str, requests: int) -> None:
        self.fallbacks.labels(reason).inc(requests)

    def count_shed(self) -> None:
        self.shed.inc()

    def set_model_version(self, version: str) -> None:
        """Point ``labkit_model_info`` at ``version`` (the old label goes away)."""
        # BEGIN SOLUTION m5: set the new version's series to 1 and remove the previous version's series; count a swap when a previous version existed
        if version == self._version:
            return
        if self._version is not None:
            self.model_info.remove(self._version)
            self.model_swaps.inc()
        self.model_info.labels(version).set(1)
        self._version = version
        # END SOLUTION

    def count_refresh_failure(self, reason: str) -> None:
        self.refresh_failures.labels(reason).inc()

    def track_queue_depth(self, depth: Callable[[], int]) -> None:
        self.queue_depth.set_function(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestTimer:
    """Pure ASGI middleware: stamp the arrival, observe duration by route and status.

    ``routes`` are the paths that are routes (their label is the path; any
    other path is ``other``). The status is the one the app sends in its
    ``http.response.start`` message; an app that raises before sending one
    is counted as 500, which is what the client gets. The duration goes to
    ``scope["app"].state.service.metrics.observe_request``, once the service
    exists (requests before the lifespan has opened it are not timed).
    """

    def __init__(self, app: Any, routes: Iterable[str] = ()):
        self.app = app
        self.routes = frozenset(routes)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # BEGIN SOLUTION m5: stamp the arrival (scope[START_KEY]), note the status the app sends (500 if it raises first), and observe the duration by route ("other" for a path that is no route) even when the app raises
        start = time.perf_counter()
        scope[START_KEY] = start
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            service = getattr(scope["app"].state, "service", None)
            if service is not None:
                route = scope["path"] if scope["path"] in self.routes else "other"
                service.metrics.observe_request(
                    route, status, time.perf_counter() - start
                )
        # END SOLUTION

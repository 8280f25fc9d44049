"""Section 7 of ``labkit run online_serving``: faults injected under load, measured.

    faults(results, have, base, score)   # Redis killed, then the service itself

One service (uvicorn on 127.0.0.1, its online store on a private
redis-server) under a short load from a few client threads in this process
(``infra/recorded_load.py``), which record each request: when it was sent,
its status, and whether popularity answered it (``fallback``). Two faults,
one after the other:

1. **Redis killed** (SIGKILL) for ``OUTAGE_S``, then started again on the
   same port from its snapshot: answers switch to the popularity fallback
   (no 5xx) and back to the store on their own (needs m4's fallback).
2. **The service killed** (SIGKILL: no drain) and a new process started on
   the same port: the requests in flight fail, those sent while nothing
   listens are refused, and the new process serves the same model version.

Every figure is counted from the recorded requests (``report_faults``
writes them as the page's "Faults" section). Every wait is bounded: a
recovery that does not come within ``WAIT_S`` is reported as not done, and
a service that cannot start again stops the run with its log.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from common.results import Results
from infra.recorded_load import Outcome, RecordedLoad
from infra.redis_server import RedisServer, RedisUnavailable, start_redis
from infra.uvicorn_server import UvicornServer
from labs.online_serving import measure

log = logging.getLogger(__name__)

OUTAGE_S = 1.5  # Redis stays down this long, under load
SETTLE_S = 0.5  # load kept on after a recovery, to see that it holds
WAIT_S = 20.0  # the longest one step may take on a busy machine
WARM_ANSWERS = 50  # answers before a fault is injected: the load is running
LIMIT_S = 60.0  # each recorded load, whatever happens
REFUSED = "ConnectError"  # httpx's error for a refused connection


def faults(
    results: Results, have: measure.Implemented, base: dict[str, Any], score: list[Any]
) -> None:
    """Kill Redis, then the service, under load; record and report what clients saw."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="labkit-faults-") as tmp:
        redis = None
        try:
            redis = start_redis(Path(tmp))
        except RedisUnavailable as exc:  # the restart needs no Redis: SQLite then
            log.warning("the Redis fault run is skipped: %s", exc)
            results.skipped.append(f"the Redis fault run: {exc}")
        knobs: dict[str, Any] = {**base, "max_batch_size": 32}
        if redis is not None:
            knobs.update(store_backend="redis", store_url=redis.url)
        settings = have.settings(**knobs)
        servers = [measure.start(settings)]  # its start fills Redis from the store
        try:
            if redis is not None and have.resilience:
                figures["redis_killed"] = redis_killed(
                    servers[0], redis, Path(tmp), score
                )
            figures["service_killed"] = service_killed(servers, settings, score)
        finally:
            for server in servers:
                server.stop()
            if redis is not None:
                redis.stop()
    results.add("faults", figures)
    report_faults(results, figures)


def redis_killed(
    server: UvicornServer, store: RedisServer, workdir: Path, payloads: list[Any]
) -> dict[str, Any]:
    """SIGKILL Redis under load for ``OUTAGE_S``, restart it; what the answers were.

    ``store`` runs in ``workdir``; its process is replaced by the restarted one
    (so that the caller stops that one).
    """
    import redis

    client = redis.Redis.from_url(store.url)
    try:
        client.save()  # workdir/dump.rdb: what the restarted server loads
    finally:
        client.close()
    recovered_at = math.nan
    with RecordedLoad(server.url, "/score", payloads, limit_s=LIMIT_S) as load:
        warm = load.wait_until(
            lambda: load.answered_since(load.began) >= WARM_ANSWERS, WAIT_S
        )
        killed = time.monotonic()
        store.process.stop(sig=signal.SIGKILL)  # the redis-server we started, alone
        time.sleep(OUTAGE_S)
        back = time.monotonic()
        store.process = start_redis(workdir, port=store.port).process
        recovered = load.wait_until(
            lambda: load.answered_since(back, fallback=False) > 0, WAIT_S
        )
        if recovered:
            recovered_at = min(
                o.sent
                for o in load.since(back)
                if o.status == 200 and not o.body["fallback"]
            )
            time.sleep(SETTLE_S)
    sent = load.outcomes
    during = [o for o in sent if killed <= o.sent < back and o.status == 200]
    after = [o for o in sent if o.sent >= recovered_at and o.status == 200]
    before = [o for o in sent if o.sent < killed and o.status == 200]
    return {
        "warmed_up": warm,
        **_failures(sent),
        "outage_s": back - killed,
        "fallback_share_before": _share(before),
        "fallback_share_during_outage": _share(during),
        "recovered": recovered,
        "seconds_to_recover": recovered_at - back,
        "fallback_share_after_recovery": _share(after),
    }


def service_killed(
    servers: list[UvicornServer], settings: Any, payloads: list[Any]
) -> dict[str, Any]:
    """SIGKILL the service under load and start a new one on its port (added to ``servers``)."""
    server = servers[-1]
    version = _served_version(server.url)
    with RecordedLoad(server.url, "/score", payloads, limit_s=LIMIT_S) as load:
        warm = load.wait_until(
            lambda: load.answered_since(load.began) >= WARM_ANSWERS, WAIT_S
        )
        killed = time.monotonic()
        os.kill(server.process.pid, signal.SIGKILL)  # the uvicorn we started, alone
        server.process.proc.wait(timeout=WAIT_S)
        dead = time.monotonic()
        servers.append(measure.start(settings, port=server.port))
        ready = time.monotonic()
        answering = load.wait_until(
            lambda: load.answered_since(ready) >= WARM_ANSWERS, WAIT_S
        )
        time.sleep(SETTLE_S)
    sent = load.outcomes
    after = _served_version(servers[-1].url)
    return {
        "warmed_up": warm,
        **_failures(sent),
        "dropped_after_death": sum(
            1 for o in sent if o.status == 0 and o.error != REFUSED and o.sent >= dead
        ),
        "failed_after_ready": sum(
            1 for o in sent if o.status != 200 and o.sent >= ready
        ),
        "clients": load.clients,
        "seconds_to_ready": ready - killed,
        "model_version_before": version,
        "model_version_after": after,
        "same_model_version": version == after,
        "recovered": answering and version == after,
    }


def _failures(sent: list[Outcome]) -> dict[str, int]:
    """How the requests in ``sent`` ended, by kind of failure."""
    return {
        "requests": len(sent),
        "ok": sum(1 for o in sent if o.status == 200),
        "http_5xx": sum(1 for o in sent if o.status >= 500),
        "http_other": sum(1 for o in sent if o.status != 200 and 0 < o.status < 500),
        # no response: refused at connect (nothing listened), or dropped
        # mid-request (reset or closed: in flight when the process died)
        "refused": sum(1 for o in sent if o.error == REFUSED),
        "dropped": sum(1 for o in sent if o.status == 0 and o.error != REFUSED),
    }


def _served_version(url: str) -> str | None:
    response = httpx.get(url + "/info", timeout=10)
    return response.json()["model_version"] if response.status_code == 200 else None


def _share(answers: list[Any]) -> float:
    """The share of ``answers`` that popularity gave (nan for none)."""
    if not answers:
        return math.nan
    return sum(1 for o in answers if o.body["fallback"]) / len(answers)


def report_faults(results: Results, figures: dict[str, Any]) -> None:
    """The "Faults" section: one row per fault, then what the figures say."""
    redis, service = figures.get("redis_killed"), figures["service_killed"]
    runs = [("Redis SIGKILLed, restarted", redis)] if redis is not None else []
    runs.append(("service SIGKILLed, restarted on its port", service))
    rows = [
        {
            "fault": name,
            "requests": run["requests"],
            "5xx": run["http_5xx"],
            "dropped mid-request": run["dropped"],
            "refused while down": run["refused"],
            "fallback share during the outage": run.get("fallback_share_during_outage"),
            "recovered": "yes" if run["recovered"] else "no",
            "seconds to recover": run.get(
                "seconds_to_recover", run.get("seconds_to_ready")
            ),
        }
        for name, run in runs
    ]
    results.text(
        "## 7. Faults\n\nOne service on Redis, under load from "
        f"{service['clients']} client threads that record every request. First "
        "Redis is killed (SIGKILL) and started again on its port from a snapshot; "
        "then the service itself is killed (SIGKILL, no drain) and a new process "
        "started on its port. *Dropped mid-request*: no answer, the connection "
        "reset or closed (in flight at a kill); *refused*: sent while nothing "
        "listened (each client retries every 20 ms). *Seconds to recover*: from "
        "Redis's return to the first answer from the store again; from the kill "
        "to the new process's readiness."
    )
    results.table(rows, title="Faults under load")
    if redis is not None:
        results.text(
            f"Redis down for {redis['outage_s']:.1f} s: **{redis['http_5xx']} 5xx** and "
            f"{redis['dropped'] + redis['refused'] + redis['http_other']} other "
            f"failures in {redis['requests']:,} requests; "
            f"{redis['fallback_share_during_outage']:.0%} of the answers sent during "
            "the outage came from popularity (flagged `fallback`), against "
            f"{redis['fallback_share_before']:.0%} before. "
            + (
                f"Answers came from the store again {redis['seconds_to_recover']:.2f} s "
                "after Redis returned, without a restart of the service "
                f"({redis['fallback_share_after_recovery']:.0%} fallbacks after)."
                if redis["recovered"]
                else f"Answers did NOT come back from the store within {WAIT_S:.0f} s."
            )
        )
    results.text(
        f"Service killed: {service['dropped']} requests dropped mid-request (in "
        f"flight when the process died; at most one per client, {service['clients']}) "
        f"and {service['refused']} refused while nothing listened, of "
        f"{service['requests']:,}; **{service['http_5xx']} 5xx**, "
        f"{service['failed_after_ready']} failures after readiness. The new process "
        f"was ready {service['seconds_to_ready']:.1f} s after the kill, serving "
        f"`{service['model_version_after']}` "
        + (
            "(the same version as before)."
            if service["same_model_version"]
            else f"(NOT the version before, `{service['model_version_before']}`)."
        )
    )

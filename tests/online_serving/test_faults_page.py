"""The results page's "Faults" section: every figure the fault runs measure, shown.

Fast: no process is started. The figures are those of ``run_faults``'s
measurements, built here from recorded outcomes (``_failures`` counts them
as the run does); the run itself is ``labkit run online_serving``.
"""

from __future__ import annotations

import math

from common.results import Results
from infra.recorded_load import Outcome
from labs.online_serving.run_faults import _failures, report_faults


def outcomes() -> list[Outcome]:
    ok = {"fallback": False}
    return [
        Outcome(0.0, 0.01, 200, ok),
        Outcome(0.1, 0.2, 0, error="RemoteProtocolError"),  # in flight at the kill
        Outcome(0.3, 0.3, 0, error="ConnectError"),  # nothing listened
        Outcome(0.4, 0.4, 0, error="ConnectError"),
        Outcome(0.5, 0.6, 503),
        Outcome(0.7, 0.8, 200, ok),
    ]


def test_failures_are_counted_by_kind() -> None:
    counts = _failures(outcomes())
    assert counts == {
        "requests": 6,
        "ok": 2,
        "http_5xx": 1,
        "http_other": 0,
        "refused": 2,
        "dropped": 1,
    }


def figures(with_redis: bool = True) -> dict:
    service = {
        **_failures(outcomes()),
        "warmed_up": True,
        "dropped_after_death": 0,
        "failed_after_ready": 0,
        "clients": 4,
        "seconds_to_ready": 2.5,
        "model_version_before": "v0007",
        "model_version_after": "v0007",
        "same_model_version": True,
        "recovered": True,
    }
    redis = {
        **_failures(outcomes()[:1] * 3),
        "warmed_up": True,
        "outage_s": 1.5,
        "fallback_share_before": 0.0,
        "fallback_share_during_outage": 0.96,
        "recovered": False,
        "seconds_to_recover": math.nan,
        "fallback_share_after_recovery": math.nan,
    }
    return (
        {"redis_killed": redis, "service_killed": service}
        if with_redis
        else {"service_killed": service}
    )


def page(tmp_path, measured: dict) -> str:
    results = Results("online_serving", "Online serving", root=tmp_path)
    report_faults(results, measured)
    return results.write().read_text()


def test_the_faults_section_shows_each_runs_figures(tmp_path) -> None:
    text = page(tmp_path, figures())
    assert "## 7. Faults" in text
    header = (
        "| fault | requests | 5xx | dropped mid-request | refused while down | "
        "fallback share during the outage | recovered | seconds to recover |"
    )
    assert header in text
    assert "| Redis SIGKILLed, restarted | 3 | 0 | 0 | 0 | 0.960 | no | nan |" in text
    assert (
        "| service SIGKILLed, restarted on its port | 6 | 1 | 1 | 2 |  | yes | 2.50 |"
        in text
    )
    assert "**0 5xx**" in text and "96% of the answers" in text
    assert "did NOT come back from the store" in text
    assert "**1 5xx**" in text and "serving `v0007` (the same version" in text


def test_without_redis_only_the_restart_is_shown(tmp_path) -> None:
    text = page(tmp_path, figures(with_redis=False))
    assert "| service SIGKILLed" in text and "| Redis SIGKILLed" not in text

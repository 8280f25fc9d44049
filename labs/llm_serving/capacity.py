"""From a rate sweep to a capacity plan: the knee, and how many replicas.

    knee = knee_rate(points, min_attainment=0.9)      # the highest rate still served well
    n = replicas_needed(target_rps=40, per_replica_rps=knee, headroom=0.3)

A sweep measures one replica at rising offered rates (``load_summary``
points, each with ``offered_rps`` and ``slo_attainment``, the share of the
offered requests answered within both SLOs). Below the knee nearly every
request meets the SLO; past it the queue grows without bound for as long as
the overload lasts, TTFT with it, and attainment falls off a cliff.

- :func:`knee_rate`: the highest offered rate, in the order the rates were
  *offered* (sorted by rate, never by what came out), up to which every
  point kept attainment ≥ ``min_attainment``. A rate above the first
  failing one does not count even if it happened to pass: a plan cannot
  rest on a lucky point past a failure.
- :func:`replicas_needed`: replicas for a target rate if each is trusted
  only up to ``(1 - headroom)`` of its knee (room for bursts, a replica
  down, a slower day): ``ceil(target / (knee × (1 - headroom)))``.

Check it: ``labkit check llm_serving`` (milestone m5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def knee_rate(
    points: Sequence[dict[str, Any]], *, min_attainment: float = 0.9
) -> float:
    """The highest offered rate whose point, and every lower one, met ``min_attainment``.

    Returns:
        That rate in requests/s, or 0.0 when even the lowest rate failed.
    """
    if not 0 < min_attainment <= 1:
        raise ValueError(f"min_attainment must be in (0, 1], got {min_attainment}.")
    # BEGIN SOLUTION m5: walk the points sorted by offered_rps; stop at the first whose slo_attainment is below min_attainment; the knee is the last rate before it
    knee = 0.0
    for point in sorted(points, key=lambda p: p["offered_rps"]):
        if point["slo_attainment"] < min_attainment:
            break
        knee = float(point["offered_rps"])
    return knee
    # END SOLUTION


def replicas_needed(
    target_rps: float, per_replica_rps: float, *, headroom: float = 0.3
) -> int:
    """Replicas to serve ``target_rps`` with each loaded to ``(1 - headroom)`` of its knee."""
    if not 0 <= headroom < 1:
        raise ValueError(f"headroom must be in [0, 1), got {headroom}.")
    if per_replica_rps <= 0:
        raise ValueError(
            f"per_replica_rps must be > 0, got {per_replica_rps}: a replica that meets "
            "the SLO at no rate cannot be planned with; lower the rates swept."
        )
    # BEGIN SOLUTION m5: ceil(target / (per_replica × (1 - headroom))), at least 1
    return max(1, math.ceil(target_rps / (per_replica_rps * (1 - headroom))))
    # END SOLUTION

"""``torchrun --max-restarts`` in small: a job whose rank fails is restarted on every rank.

    run = run_elastic("pkg.job:train", spec, world_size=2, max_restarts=1, timeout_s=60)
    run.results, run.restarts, run.failures

Each attempt gets a new :class:`~infra.torch_dist.RankGroup` (new processes,
a new port: a restarted gloo group must not meet its predecessor's
addresses, the failure ``torchrun`` itself shows on a reused store) and
``TORCHELASTIC_RESTART_COUNT`` (0, 1, ...) in its environment. The job
itself resumes from its last checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.torch_dist import RankError, RankGroup


@dataclass(frozen=True)
class ElasticRun:
    """What :func:`run_elastic` returned: the results and the failures it survived."""

    results: list[Any]
    restarts: int
    failures: list[str]  # one line per failed attempt
    pids: list[int]  # every rank process it started


class ElasticGaveUp(RankError):
    """Every attempt of an elastic job failed."""


def run_elastic(
    target: str,
    spec: Any,
    *,
    world_size: int,
    max_restarts: int,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
) -> ElasticRun:
    """Run a job on ``world_size`` ranks; if any rank fails, restart all of them.

    Like ``torchrun --max-restarts``: each attempt gets new processes and a
    new port, and ``TORCHELASTIC_RESTART_COUNT`` (0, 1, ...) in its
    environment. The job itself must resume from its last checkpoint.

    Raises:
        ElasticGaveUp: attempt ``max_restarts + 1`` failed too.
    """
    if max_restarts < 0:
        raise ValueError(f"max_restarts must be >= 0, got {max_restarts}.")
    failures: list[str] = []
    pids: list[int] = []
    for attempt in range(max_restarts + 1):
        group = RankGroup.start(
            world_size, env={**(env or {}), "TORCHELASTIC_RESTART_COUNT": str(attempt)}
        )
        try:
            results = group.run(target, spec, timeout_s=timeout_s)
            pids.extend(group.spawned)
            return ElasticRun(results, attempt, failures, pids)
        except RankError as exc:
            failures.append(f"attempt {attempt}: {str(exc).splitlines()[0]}")
            last = exc
        finally:
            pids.extend(p for p in group.spawned if p not in pids)
            group.close()
    raise ElasticGaveUp(
        f"{target} failed on all {max_restarts + 1} attempts: "
        + "; ".join(failures)
        + f"\nThe last failure in full:\n{last}"
    )

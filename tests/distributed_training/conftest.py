"""Fixtures of the distributed_training lab: one group of rank processes for the session.

Starting a rank costs a second or two of CPU (it imports torch), so the
session starts four once (:class:`infra.torch_dist.RankGroup`) and every test
runs its rank program on the first N of them; a run that fails or hangs
stops them all and the next run starts fresh ones. At the end of the session
every rank the group ever started, and the fork server they were forked
from, must be gone, checked by pid.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dist_helpers import assert_all_gone

from infra.rank_process import fork_server_pid, stop_fork_server
from infra.torch_dist import RankGroup

RUN_TIMEOUT_S = (
    15.0  # a hung collective fails a test in this long, not at the per-test timeout
)


class Ranks:
    """The session's rank group, with the lab's default time bound on each run."""

    def __init__(self, group: RankGroup):
        self.group = group

    def run(
        self,
        target: str,
        spec: Any,
        *,
        world_size: int,
        timeout_s: float = RUN_TIMEOUT_S,
    ) -> list[Any]:
        if ":" not in target:
            target = f"labs.distributed_training.programs:{target}"
        return self.group.run(target, spec, world_size=world_size, timeout_s=timeout_s)


@pytest.fixture(scope="session")
def ranks() -> Iterator[Ranks]:
    # the ranks import this folder's rank_checks.py as `rank_checks`
    group = RankGroup.start(4, env={"PYTHONPATH": str(Path(__file__).parent)})
    try:
        yield Ranks(group)
    finally:
        group.close()
        server = fork_server_pid()
        stop_fork_server()
        assert_all_gone([*group.spawned, *([server] if server else [])])

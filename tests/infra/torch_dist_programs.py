"""Rank programs for ``test_torch_dist.py`` (imported in the ranks as ``torch_dist_programs``)."""

from __future__ import annotations

import os
import signal
from typing import Any

import torch
import torch.distributed as dist


def rank_sum(spec: dict[str, Any]) -> dict[str, Any]:
    value = torch.tensor([float(dist.get_rank() + 1)])
    dist.all_reduce(value)
    return {"rank": dist.get_rank(), "world": dist.get_world_size(), "sum": value.item(),
            "pid": os.getpid(), "env_rank": os.environ["RANK"]}  # fmt: skip


def raise_on(spec: dict[str, Any]) -> None:
    if dist.get_rank() == spec["rank"]:
        raise ValueError(f"rank {spec['rank']} refuses the spec on purpose")
    dist.barrier()


def wait_for_nobody(spec: dict[str, Any]) -> None:
    if dist.get_rank() == 0:
        dist.recv(torch.empty(1), src=1)  # rank 1 never sends


def die_on(spec: dict[str, Any]) -> int:
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if dist.get_rank() == spec["rank"] and attempt in spec.get("attempts", [0]):
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()
    return attempt

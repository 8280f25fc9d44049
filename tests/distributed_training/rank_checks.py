"""Rank programs of the tests: the lab's collectives beside gloo's, on the same inputs.

Run in the rank processes (imported as ``rank_checks``), never by pytest
itself. Each rank's input is drawn from ``(seed, rank)`` so the parent can
rebuild every rank's input too.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist

from labs.distributed_training.collectives import (
    naive_all_reduce,
    ring_all_gather,
    ring_all_reduce,
    ring_reduce_scatter,
)
from labs.distributed_training.comm import Comm


def rank_input(seed: int, rank: int, numel: int, dtype: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1009 + rank)
    if dtype == "int64":  # exact sums: a value counted twice cannot hide in rounding
        return torch.randint(-1000, 1000, (numel,), generator=generator)
    return torch.randn(numel, generator=generator)


def all_reduce_vs_gloo(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """For each size: ring and naive all-reduce, gloo's ``all_reduce``, bytes sent."""
    rank = dist.get_rank()
    out = []
    for numel in spec["sizes"]:
        for dtype in ("int64", "float32"):
            x = rank_input(spec["seed"], rank, numel, dtype)
            oracle = x.clone()
            dist.all_reduce(oracle)
            ring_comm, naive_comm = Comm.world(), Comm.world()
            ring = ring_all_reduce(x.clone(), ring_comm)
            naive = naive_all_reduce(x.clone(), naive_comm)
            out.append(
                {
                    "numel": numel,
                    "dtype": dtype,
                    "element_size": x.element_size(),
                    "oracle": oracle,
                    "ring": ring,
                    "naive": naive,
                    "ring_bytes": ring_comm.bytes_sent,
                    "ring_messages": ring_comm.messages_sent,
                    "naive_bytes": naive_comm.bytes_sent,
                }
            )
    return out


def reduce_scatter_then_gather(spec: dict[str, Any]) -> dict[str, Any]:
    """The two halves alone: the chunk a rank owns after the reduce-scatter, then all of it."""
    comm = Comm.world()
    x = rank_input(spec["seed"], comm.rank, spec["numel"], "int64")
    scattered = x.clone()
    bounds = ring_reduce_scatter(scattered, comm)
    own = torch.full((spec["numel"],), -1, dtype=torch.int64)
    lo, hi = bounds
    own[lo:hi] = scattered[lo:hi]
    gathered = ring_all_gather(own, comm)
    return {
        "bounds": tuple(bounds),
        "chunk": scattered[lo:hi].clone(),
        "gathered": gathered,
    }


def hang_on_rank_zero(spec: dict[str, Any]) -> None:
    """Rank 0 waits for a message nobody sends (a bounded run must stop it)."""
    if dist.get_rank() == 0:
        dist.recv(torch.empty(1), src=1)


def slow_link_all_reduce(spec: dict[str, Any]) -> dict[str, Any]:
    """gloo's all-reduce through :func:`slow_link`: the sums, the times, the restore."""
    from labs.distributed_training.slow_link import slow_link

    real = dist.all_reduce
    x = rank_input(spec["seed"], dist.get_rank(), spec["numel"], "int64")
    oracle = x.clone()
    dist.all_reduce(oracle)
    synced, pending = x.clone(), x.clone()
    with slow_link(spec["gbps"]):
        began = time.perf_counter()
        dist.all_reduce(synced)
        sync_s = time.perf_counter() - began
        began = time.perf_counter()
        work = dist.all_reduce(pending, async_op=True)
        returned_s = time.perf_counter() - began
        work.wait()
    return {
        "oracle": oracle,
        "synced": synced,
        "pending": pending,
        "sync_s": sync_s,
        "async_returned_s": returned_s,
        "restored": dist.all_reduce is real,
    }

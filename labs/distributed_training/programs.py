"""What each rank runs in the experiments: one function per milestone, a spec in, figures out.

Each is a *rank program* for :mod:`infra.torch_dist` (the process group is
already up when it is called) and returns plain values and tensors, so the
parent can compare ranks with each other and with a single-process oracle
(:func:`train_single`, :func:`adam_single`, :func:`dense_mlp`)::

    with RankGroup.start(4) as ranks:
        out = ranks.run("labs.distributed_training.programs:train_data_parallel",
                        spec, world_size=2, timeout_s=30)

The same functions run under ``torchrun`` or inside a Ray Train worker
(:mod:`~labs.distributed_training.ray_train`): anything that has set up the
default process group.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from labs.distributed_training.collectives import (
    naive_all_reduce,
    ring_all_gather,
    ring_all_reduce,
    ring_reduce_scatter,
)
from labs.distributed_training.comm import Comm
from labs.distributed_training.ddp import BucketedDDP
from labs.distributed_training.pipeline import Stage, Timeline, gpipe_step
from labs.distributed_training.slow_link import slow_link
from labs.distributed_training.tensor_parallel import TensorParallelMLP
from labs.distributed_training.workload import batch, build_model, rank_rows, state_of
from labs.distributed_training.zero import ShardedAdam
from labs.transformer import MLP

TRAIN_DEFAULTS: dict[str, Any] = {"lr": 0.05, "momentum": 0.9, "seed": 0}


# --- m1 ---------------------------------------------------------------------------
def time_all_reduce(spec: dict[str, Any]) -> dict[str, Any]:
    """Median seconds of ``spec["algorithm"]`` ("ring", "naive", "gloo") on ``numel`` floats."""
    comm = Comm.world()
    tensor = torch.ones(spec["numel"])
    reduce = {
        "ring": lambda t: ring_all_reduce(t, comm),
        "naive": lambda t: naive_all_reduce(t, comm),
        "gloo": lambda t: dist.all_reduce(t),
    }[spec["algorithm"]]
    samples = []
    for _ in range(spec.get("repeats", 5)):
        dist.barrier()
        began = time.perf_counter()
        reduce(tensor)
        samples.append(time.perf_counter() - began)
    samples.sort()
    return {
        "seconds": samples[len(samples) // 2],
        "bytes_sent": comm.bytes_sent / spec.get("repeats", 5),
    }


def zero3_traffic(spec: dict[str, Any]) -> dict[str, int]:
    """Bytes one ZeRO-3 step sends for ``numel`` float32 weights, counted, not computed.

    ZeRO-3 shards the weights too, so a step all-gathers them for forward,
    again for backward (they were freed in between), and reduce-scatters
    the gradients: three half-rings, against DDP's two.
    """
    comm = Comm.world()
    flat = torch.zeros(spec["numel"])
    ring_all_gather(flat, comm)  # forward
    ring_all_gather(flat, comm)  # backward
    ring_reduce_scatter(flat, comm)  # gradients
    zero3 = comm.bytes_sent
    comm.reset()
    ring_all_reduce(flat, comm)  # DDP
    return {"zero3_bytes": zero3, "ddp_bytes": comm.bytes_sent}


# --- m2 ---------------------------------------------------------------------------
def _sgd(model: torch.nn.Module, spec: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        model.parameters(), lr=spec["lr"], momentum=spec.get("momentum", 0.0)
    )


def train_data_parallel(spec: dict[str, Any]) -> dict[str, Any]:
    """Data-parallel SGD for ``len(spec["rows"])`` steps; rank r trains on its rows.

    spec: ``size``, ``seed``, ``rows`` (global rows per step), ``lr``,
    ``momentum``, ``impl`` ("bucketed" or "torch" for PyTorch's DDP),
    ``overlap``, ``bucket_cap_bytes``; optional ``straggler`` (a rank) and
    ``straggler_delay_s``: that rank sleeps so long before each backward, as
    a slower machine would.
    """
    spec = {**TRAIN_DEFAULTS, **spec}
    rank, world = dist.get_rank(), dist.get_world_size()
    model = build_model(spec["size"], spec["seed"])
    cap = int(spec.get("bucket_cap_bytes", 1 << 20))
    if spec.get("impl", "bucketed") == "torch":
        from torch.nn.parallel import DistributedDataParallel

        wrapped: Any = DistributedDataParallel(model, bucket_cap_mb=cap / 2**20)
    else:
        wrapped = BucketedDDP(
            model, bucket_cap_bytes=cap, overlap=spec.get("overlap", True)
        )
    optimizer = _sgd(model, spec)
    step_s, launches = [], []
    for step, rows in enumerate(spec["rows"]):
        idx, targets = batch(spec["size"], step=step, rows=rows, seed=spec["seed"])
        lo, hi = rank_rows(rows, rank, world)
        optimizer.zero_grad(set_to_none=True)
        began = time.perf_counter()
        if isinstance(wrapped, BucketedDDP):
            wrapped.begin_step(hi - lo)
        _, loss = wrapped(idx[lo:hi], targets[lo:hi])
        if spec.get("straggler") == rank:
            time.sleep(spec["straggler_delay_s"])
        loss.backward()
        if isinstance(wrapped, BucketedDDP):
            launches.append([(x.bucket, x.during_backward) for x in wrapped.launches])
            wrapped.finish()
        optimizer.step()
        step_s.append(time.perf_counter() - began)
    return {
        "state": state_of(model),
        "buckets": getattr(wrapped, "buckets", None),
        "launches": launches,
        "step_s": step_s,
    }


def time_overlap(spec: dict[str, Any]) -> dict[str, list[float]]:
    """Step seconds with overlap on and off, alternating step by step on one model.

    Pairs of steps share the machine's state, so their ratio is fair even
    when the machine is busy; the first pair (warm-up) is dropped. With
    ``link_gbps`` the all-reduces take that link's wire time
    (:mod:`~labs.distributed_training.slow_link`); without it, loopback's.
    """
    if spec.get("link_gbps"):
        with slow_link(spec["link_gbps"]):
            return time_overlap({**spec, "link_gbps": None})
    rank, world = dist.get_rank(), dist.get_world_size()
    model = build_model(spec["size"], 0)
    ddp = BucketedDDP(model, bucket_cap_bytes=int(spec["bucket_cap_bytes"]))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    lo, hi = rank_rows(spec["rows"], rank, world)
    times: dict[str, list[float]] = {"overlap": [], "no_overlap": []}
    for step in range(2 * spec["pairs"] + 2):
        ddp.overlap = step % 2 == 0
        idx, targets = batch(spec["size"], step=step, rows=spec["rows"], seed=0)
        optimizer.zero_grad(set_to_none=True)
        dist.barrier()
        began = time.perf_counter()
        ddp.begin_step(hi - lo)
        _, loss = ddp(idx[lo:hi], targets[lo:hi])
        loss.backward()
        ddp.finish()
        optimizer.step()
        if step >= 2:
            times["overlap" if ddp.overlap else "no_overlap"].append(
                time.perf_counter() - began
            )
    return times


def train_single(spec: dict[str, Any]) -> dict[str, Tensor]:
    """The oracle of :func:`train_data_parallel`: one process, each step's whole batch."""
    spec = {**TRAIN_DEFAULTS, **spec}
    model = build_model(spec["size"], spec["seed"])
    optimizer = _sgd(model, spec)
    for step, rows in enumerate(spec["rows"]):
        idx, targets = batch(spec["size"], step=step, rows=rows, seed=spec["seed"])
        optimizer.zero_grad(set_to_none=True)
        _, loss = model(idx, targets)
        loss.backward()
        optimizer.step()
    return state_of(model)


# --- m3 ---------------------------------------------------------------------------
def train_zero(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec["steps"]`` steps of Adam sharded at ZeRO ``spec["stage"]``, equal rows per rank."""
    comm = Comm.world()
    if spec["rows"] % comm.world_size:
        raise ValueError(
            f"ZeRO averages the ranks' gradients, so each needs the same rows: "
            f"{spec['rows']} rows do not split over {comm.world_size} ranks."
        )
    model = build_model(spec["size"], spec["seed"])
    optimizer = ShardedAdam(
        model.parameters(), comm, stage=spec["stage"], lr=spec["lr"]
    )
    lo, hi = rank_rows(spec["rows"], comm.rank, comm.world_size)
    sent = []
    for step in range(spec["steps"]):
        idx, targets = batch(
            spec["size"], step=step, rows=spec["rows"], seed=spec["seed"]
        )
        optimizer.zero_grad()
        _, loss = model(idx[lo:hi], targets[lo:hi])
        loss.backward()
        before = comm.bytes_sent
        optimizer.step()
        sent.append(comm.bytes_sent - before)
    return {
        "params": optimizer.flat_params(),
        "bounds": (optimizer.start, optimizer.end),
        "state_bytes": optimizer.state_bytes(),
        "bytes_per_step": sent,
        "n_params": optimizer.numel,
    }


def adam_single(spec: dict[str, Any]) -> Tensor:
    """The oracle of :func:`train_zero`: ``torch.optim.Adam`` in one process, whole batches."""
    model = build_model(spec["size"], spec["seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    for step in range(spec["steps"]):
        idx, targets = batch(
            spec["size"], step=step, rows=spec["rows"], seed=spec["seed"]
        )
        optimizer.zero_grad(set_to_none=True)
        _, loss = model(idx, targets)
        loss.backward()
        optimizer.step()
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


# --- m4 ---------------------------------------------------------------------------
def pipeline_step(spec: dict[str, Any]) -> dict[str, Any]:
    """One GPipe step with rank r as stage r; its gradients by the GPT's parameter names."""
    comm = Comm.world()
    model = build_model(spec["size"], spec["seed"])
    stage = Stage(model, comm.rank, comm.world_size)
    idx, targets = batch(spec["size"], step=0, rows=spec["rows"], seed=spec["seed"])
    timeline = Timeline(delay_s=spec.get("delay_s", 0.0))
    dist.barrier()
    loss = gpipe_step(stage, comm, idx, targets, spec["n_micro"], timeline)
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return {
        "loss": loss,
        "grads": grads,
        "events": timeline.events,
        "bytes_sent": comm.bytes_sent,
    }


# --- m5 ---------------------------------------------------------------------------
def dense_mlp(spec: dict[str, Any]) -> tuple[MLP, Tensor, Tensor]:
    """The dense MLP, its input ``(B, T, C)`` and the upstream gradient, from the seed."""
    torch.manual_seed(spec["seed"])
    mlp = MLP(spec["n_embd"])
    shape = (spec["rows"], spec["tokens"], spec["n_embd"])
    x = torch.randn(*shape)
    upstream = torch.randn(*shape)
    return mlp, x, upstream


def tensor_parallel_mlp(spec: dict[str, Any]) -> dict[str, Any]:
    """This rank's Megatron MLP on the seeded input: output, gradients, bytes each way."""
    comm = Comm.world()
    dense, x, upstream = dense_mlp(spec)
    layer = TensorParallelMLP(dense, comm)
    x.requires_grad_()
    y = layer(x)
    forward_bytes, forward_messages = comm.bytes_sent, comm.messages_sent
    y.backward(upstream)
    return {
        "y": y.detach(),
        "x_grad": x.grad,
        "grads": {n: p.grad for n, p in layer.named_parameters()},
        "forward_bytes": forward_bytes,
        "forward_messages": forward_messages,
        "backward_bytes": comm.bytes_sent - forward_bytes,
        "backward_messages": comm.messages_sent - forward_messages,
    }

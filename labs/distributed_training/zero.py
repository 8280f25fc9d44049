"""m3 — a sharded optimiser: ZeRO stage 1 (Adam moments) and stage 2 (gradients too).

Data parallelism keeps N copies of everything. For Ψ float32 parameters
trained with Adam a rank holds 4Ψ bytes of weights, 4Ψ of gradients and 8Ψ
of moments (m and v). But a rank only *needs* the moments of the
parameters it updates. ZeRO splits the flat parameter vector into N shards
(:func:`~labs.distributed_training.collectives.chunk_bounds`) and rank r
owns shard r:

1. reduce-scatter the gradients: rank r gets the summed gradient of shard r;
2. Adam on shard r only, with moments of shard r only: 8Ψ/N bytes;
3. all-gather the parameters so every rank has the whole updated model.

Steps 1 and 3 are exactly the two halves of a ring all-reduce, so ZeRO-1
and ZeRO-2 send what DDP sends, 2(N − 1)/N × 4Ψ bytes per rank per step.
Stage 1 keeps every full gradient (4Ψ); stage 2 keeps only its shard's
gradient (4Ψ/N) and frees the rest. (Stage 3 shards the weights as well and
all-gathers them in forward and again in backward: 3(N − 1)/N × 4Ψ, 1.5×.)

Check it: ``labkit check distributed_training`` (m3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from labs.distributed_training.collectives import (
    chunk_bounds,
    ring_all_gather,
    ring_reduce_scatter,
)
from labs.distributed_training.comm import Comm, flat_grads


def zero_state_formula(n_params: int, world_size: int, stage: int) -> dict[str, float]:
    """Bytes per rank of float32 Adam training under ZeRO ``stage`` (0 = plain DDP)."""
    shard = n_params / world_size
    return {
        "parameters": 4.0 * n_params,
        "gradients": 4.0 * (shard if stage >= 2 else n_params),
        "optimizer": 8.0 * (shard if stage >= 1 else n_params),
    }


class ShardedAdam:
    """Adam whose state is split across the ranks (ZeRO ``stage`` 1 or 2).

    Call :meth:`step` after backward on every rank, with each rank's
    gradient of the mean loss over its own rows (equal row counts): the
    shards' gradients are averaged over the ranks, as data parallelism does.
    The update is PyTorch's Adam (no weight decay, no amsgrad).

    Attributes:
        start, end: this rank's shard of the flat parameter vector.
        exp_avg, exp_avg_sq: Adam's moments for the shard only.
        grad_shard: stage 2's gradient of the shard only (stage 1 keeps
            every parameter's full ``.grad`` instead).
    """

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        comm: Comm,
        *,
        stage: int = 2,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        if stage not in (1, 2):
            raise ValueError(f"ZeRO stage must be 1 or 2 here, got {stage}.")
        self.params = [p for p in params if p.requires_grad]
        self.comm, self.stage = comm, stage
        self.lr, self.betas, self.eps = lr, betas, eps
        self.numel = sum(p.numel() for p in self.params)
        self.steps = 0
        self.grad_shard: Tensor | None = None
        # BEGIN SOLUTION m3: this rank's shard [start, end) of the flat vector, and zero moments of its size only
        self.start, self.end = chunk_bounds(self.numel, comm.world_size)[comm.rank]
        self.exp_avg = torch.zeros(self.end - self.start)
        self.exp_avg_sq = torch.zeros(self.end - self.start)
        # END SOLUTION

    def flat_params(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def write_params(self, flat: Tensor) -> None:
        """Copy a flat vector back into the parameters."""
        offset = 0
        with torch.no_grad():
            for p in self.params:
                p.copy_(flat[offset : offset + p.numel()].view_as(p))
                offset += p.numel()

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Reduce-scatter the gradients, update this rank's shard, all-gather the weights."""
        # BEGIN SOLUTION m3: reduce-scatter the flat grads (mean over ranks); Adam with bias correction on [start, end); all-gather the params
        flat = flat_grads(self.params)
        ring_reduce_scatter(flat, self.comm)
        grad = flat[self.start : self.end] / self.comm.world_size
        if self.stage == 2:  # keep the shard's gradient only; free the full ones
            self.grad_shard = grad.clone()
            for p in self.params:
                p.grad = None
        self.steps += 1
        beta1, beta2 = self.betas
        self.exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias1 = 1 - beta1**self.steps
        bias2 = 1 - beta2**self.steps
        denom = (self.exp_avg_sq / bias2).sqrt().add_(self.eps)
        params = self.flat_params()
        params[self.start : self.end] -= self.lr * (self.exp_avg / bias1) / denom
        ring_all_gather(params, self.comm)
        self.write_params(params)
        # END SOLUTION

    def state_bytes(self) -> dict[str, int]:
        """Bytes this rank holds now: weights, gradients (kept between steps), moments."""
        grads = sum(
            p.grad.numel() * p.grad.element_size()
            for p in self.params
            if p.grad is not None
        )
        if self.grad_shard is not None:
            grads += self.grad_shard.numel() * self.grad_shard.element_size()
        return {
            "parameters": sum(p.numel() * p.element_size() for p in self.params),
            "gradients": grads,
            "optimizer": (self.exp_avg.numel() + self.exp_avg_sq.numel())
            * self.exp_avg.element_size(),
        }

    def shard_state(self) -> dict[str, Tensor | int]:
        """This rank's part of a checkpoint: its weight shard, moments and step."""
        return {
            "params": self.flat_params()[self.start : self.end].clone(),
            "exp_avg": self.exp_avg.clone(),
            "exp_avg_sq": self.exp_avg_sq.clone(),
            "steps": self.steps,
            "bounds": (self.start, self.end),
        }

    def load_shard_state(self, state: dict[str, Tensor | int]) -> None:
        """Restore :meth:`shard_state` on every rank, then all-gather the weights."""
        if tuple(state["bounds"]) != (self.start, self.end):  # type: ignore[arg-type]
            raise ValueError(
                f"this shard is {(self.start, self.end)} but the checkpoint's is "
                f"{state['bounds']}: it was written with another world size."
            )
        self.exp_avg.copy_(state["exp_avg"])  # type: ignore[arg-type]
        self.exp_avg_sq.copy_(state["exp_avg_sq"])  # type: ignore[arg-type]
        self.steps = int(state["steps"])  # type: ignore[arg-type]
        params = self.flat_params()
        params[self.start : self.end] = state["params"]  # type: ignore[assignment]
        ring_all_gather(params, self.comm)
        self.write_params(params)


def state_within(measured: float, formula: float) -> float:
    """The relative gap between a measured size and its formula."""
    return math.inf if formula == 0 else abs(measured - formula) / formula

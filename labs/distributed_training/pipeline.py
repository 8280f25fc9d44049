"""m4 — pipeline parallelism: lab 7's GPT cut into stages, GPipe micro-batches.

When the model no longer fits one device, put consecutive layers on
different ranks: stage 0 embeds and runs the first blocks, the last stage
runs the last blocks and the head. A batch passed straight through keeps
one stage busy at a time. GPipe splits the batch into m micro-batches along
the rows and streams them: stage s works on micro-batch i while stage s + 1
works on i − 1. A step on every stage:

    forward  micro-batches 0, 1, …, m − 1:  receive x from s − 1 (unless first),
             compute, send the output to s + 1 (the last stage computes the loss)
    backward micro-batches m − 1, …, 0 (the reverse of forward, as GPipe does):
             receive ∂L/∂output from s + 1 (unless last), backward, send
             ∂L/∂x to s − 1 (unless first)

Gradients accumulate over the micro-batches in each parameter's ``.grad``.
Each micro-batch's loss is weighted by its share of the rows, so the sum is
the whole batch's mean loss and the gradients equal the unsplit model's.

With p stages, m micro-batches and equal forward and backward times, each
stage idles for p − 1 of m + p − 1 slots in each direction: the *bubble*
is (p − 1)/(m + p − 1). More micro-batches shrink it, at the cost of smaller
matrix products and m sets of stored activations.

Check it: ``labkit check distributed_training`` (m4).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labs.distributed_training.comm import Comm
from labs.transformer import GPT


def split_layers(n_layer: int, n_stages: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each stage's blocks: contiguous, sizes differing by at most one."""
    if n_stages < 1:
        raise ValueError(f"a pipeline needs at least one stage, got {n_stages}.")
    if n_stages > n_layer:
        raise ValueError(
            f"{n_stages} pipeline stages cannot split {n_layer} layers: every stage "
            f"needs at least one block. Use at most {n_layer} stages or a deeper model."
        )
    base, extra = divmod(n_layer, n_stages)
    bounds, start = [], 0
    for stage in range(n_stages):
        end = start + base + (1 if stage < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


class Stage(nn.Module):
    """Stage ``index`` of ``n_stages`` of a GPT: its blocks, and the ends it owns."""

    def __init__(self, model: GPT, index: int, n_stages: int):
        super().__init__()
        start, end = split_layers(len(model.blocks), n_stages)[index]
        self.index, self.n_stages = index, n_stages
        self.first, self.last = index == 0, index == n_stages - 1
        self.n_embd = model.config.n_embd
        if self.first:
            self.wte, self.wpe = model.wte, model.wpe
        self.blocks = nn.ModuleList(model.blocks[start:end])
        if self.last:
            self.ln_f, self.lm_head = model.ln_f, model.lm_head

    def forward(self, x: Tensor) -> Tensor:
        """Token ids ``(B, T)`` on the first stage, activations ``(B, T, C)`` after."""
        if self.first:
            x = self.wte(x) + self.wpe(torch.arange(x.shape[1]))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        if self.last:
            x = self.lm_head(self.ln_f(x))  # (B, T, V)
        return x


def stage_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """The mean next-token cross-entropy of one micro-batch (last stage)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@dataclass(frozen=True)
class Event:
    kind: str  # "F" forward or "B" backward
    micro: int
    start: float  # time.perf_counter(), one clock for every process on the machine
    end: float


@dataclass
class Timeline:
    """The compute spans of one stage; ``delay_s`` stands in for a slower device."""

    delay_s: float = 0.0
    events: list[Event] = field(default_factory=list)

    @contextmanager
    def compute(self, kind: str, micro: int) -> Iterator[None]:
        """Time one forward or backward of one micro-batch (not the waiting)."""
        start = time.perf_counter()
        yield
        if self.delay_s:
            time.sleep(self.delay_s)
        self.events.append(Event(kind, micro, start, time.perf_counter()))

    def order(self) -> list[tuple[str, int]]:
        return [(e.kind, e.micro) for e in self.events]


def bubble_fraction(timelines: list[list[Event]]) -> float:
    """The mean share of the step each stage spent idle, from every stage's events."""
    start = min(e.start for events in timelines for e in events)
    end = max(e.end for events in timelines for e in events)
    busy = [sum(e.end - e.start for e in events) for events in timelines]
    return 1.0 - sum(busy) / (len(timelines) * (end - start))


def gpipe_step(
    stage: Stage,
    comm: Comm,
    idx: Tensor,
    targets: Tensor,
    n_micro: int,
    timeline: Timeline,
) -> float | None:
    """One GPipe step on this rank's stage; gradients accumulate in its parameters.

    Args:
        stage: this rank's :class:`Stage` (rank r runs stage r).
        comm: sends and receives between neighbouring stages.
        idx, targets: the whole batch ``(B, T)``; every rank passes the same
            (only the first stage reads ``idx``, only the last ``targets``).
        n_micro: micro-batches m; row counts follow ``Tensor.tensor_split``
            (the first ``B % m`` one row longer).
        timeline: wrap each micro-batch's forward and backward compute in
            ``timeline.compute("F" or "B", i)``, receives and sends outside it.

    Returns:
        The batch's mean loss on the last stage; ``None`` on the others.
    """
    if not 1 <= n_micro <= idx.shape[0]:
        raise ValueError(
            f"n_micro must be in 1..{idx.shape[0]} (the batch's rows), got {n_micro}."
        )
    rows, T = idx.shape
    # BEGIN SOLUTION m4: forward micro-batches 0..m-1 (recv, compute, send), then backward m-1..0 (recv grad, backward, send input grad); weight each loss by its rows
    micro_idx = idx.tensor_split(n_micro)
    micro_targets = targets.tensor_split(n_micro)
    inputs: list[Tensor] = []
    outputs: list[Tensor] = []
    total = 0.0
    for i in range(n_micro):
        if stage.first:
            x = micro_idx[i]
        else:
            x = torch.empty(micro_idx[i].shape[0], T, stage.n_embd)
            comm.recv(x, comm.rank - 1)
            x.requires_grad_()
        with timeline.compute("F", i):
            out = stage(x)
            if stage.last:
                out = stage_loss(out, micro_targets[i]) * (micro_idx[i].shape[0] / rows)
                total += out.item()
        if not stage.last:
            comm.send(out.detach(), comm.rank + 1)
        inputs.append(x)
        outputs.append(out)
    for i in reversed(range(n_micro)):
        if stage.last:
            grad = None
        else:
            grad = torch.empty_like(outputs[i])
            comm.recv(grad, comm.rank + 1)
        with timeline.compute("B", i):
            outputs[i].backward(grad)
        if not stage.first:
            comm.send(inputs[i].grad, comm.rank - 1)
    return total if stage.last else None
    # END SOLUTION

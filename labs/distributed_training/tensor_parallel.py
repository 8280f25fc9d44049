"""m5 — tensor parallelism: a Megatron MLP split across N ranks.

Lab 7's MLP is ``c_proj(gelu(c_fc(x)))`` with ``c_fc: C → H`` and
``c_proj: H → C`` (H = 4C). Megatron-LM splits it so that each rank does
1/N of the work with one all-reduce forward and one backward:

- ``c_fc`` is **column-parallel**: rank r keeps rows ``[rH/N, (r+1)H/N)`` of
  its weight (output features) and of its bias, and computes its slice of
  the hidden layer from the whole input. GELU is elementwise, so it applies
  to each slice with no communication.
- ``c_proj`` is **row-parallel**: rank r keeps the matching columns (input
  features) of its weight and multiplies its hidden slice by them, giving a
  partial sum of the output; an all-reduce adds the partial sums. The bias
  is added once, after the sum (every rank adds the same full bias).

Two autograd functions place the communication (Megatron's f and g):

    f = CopyToParallel:      forward identity,   backward all-reduce ∂L/∂x
    g = ReduceFromParallel:  forward all-reduce,  backward identity

    y = g(row(gelu(column(f(x)))))

Each all-reduce moves a (B, T, C) tensor: 2(N − 1)/N × 4·B·T·C bytes per
rank, forward and again backward, which is why tensor parallelism stays
inside a node with fast links while pipeline parallelism crosses nodes.

Check it: ``labkit check distributed_training`` (m5).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labs.distributed_training.collectives import ring_all_reduce
from labs.distributed_training.comm import Comm
from labs.transformer import MLP


def check_tensor_parallel(n_embd: int, hidden: int, world_size: int) -> None:
    """Refuse a split the layers cannot take, before any process starts."""
    if world_size < 1:
        raise ValueError(f"tensor parallelism needs world_size >= 1, got {world_size}.")
    if hidden % world_size:
        raise ValueError(
            f"tensor-parallel world size {world_size} does not divide the MLP's "
            f"hidden size {hidden} (4 × n_embd = 4 × {n_embd}); every rank must own "
            f"an equal slice. Use a world size that divides {hidden}."
        )


class CopyToParallel(torch.autograd.Function):
    """f: the input goes to every rank as it is; its gradient is summed over ranks."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, comm: Comm) -> Tensor:
        ctx.comm = comm
        # BEGIN SOLUTION m5: forward is the identity (a view is enough)
        return x.view_as(x)
        # END SOLUTION

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        # BEGIN SOLUTION m5: sum the gradient over ranks (each rank saw only its slice's share)
        return ring_all_reduce(grad.contiguous().clone(), ctx.comm), None
        # END SOLUTION


class ReduceFromParallel(torch.autograd.Function):
    """g: the ranks' partial outputs are summed; the gradient passes through as it is."""

    @staticmethod
    def forward(ctx: Any, partial: Tensor, comm: Comm) -> Tensor:
        # BEGIN SOLUTION m5: all-reduce (sum) the partial outputs
        return ring_all_reduce(partial.contiguous().clone(), comm)
        # END SOLUTION

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        # BEGIN SOLUTION m5: backward is the identity
        return grad, None
        # END SOLUTION


class TensorParallelMLP(nn.Module):
    """This rank's 1/N of lab 7's :class:`~labs.transformer.MLP`.

    Built from the dense MLP (the same weights on every rank), keeping:

    - ``fc_weight`` ``(H/N, C)`` and ``fc_bias`` ``(H/N,)``: rows
      ``[r·H/N, (r+1)·H/N)`` of ``c_fc``;
    - ``proj_weight`` ``(C, H/N)``: the same range of ``c_proj``'s columns;
    - ``proj_bias`` ``(C,)``: the whole of ``c_proj``'s bias.
    """

    def __init__(self, dense: MLP, comm: Comm):
        super().__init__()
        n_embd, hidden = dense.c_fc.in_features, dense.c_fc.out_features
        check_tensor_parallel(n_embd, hidden, comm.world_size)
        self.comm = comm
        # BEGIN SOLUTION m5: slice c_fc by output rows and c_proj by input columns, the same range; keep c_proj's whole bias
        width = hidden // comm.world_size
        lo, hi = comm.rank * width, (comm.rank + 1) * width
        self.fc_weight = nn.Parameter(dense.c_fc.weight.detach()[lo:hi].clone())
        self.fc_bias = nn.Parameter(dense.c_fc.bias.detach()[lo:hi].clone())
        self.proj_weight = nn.Parameter(dense.c_proj.weight.detach()[:, lo:hi].clone())
        self.proj_bias = nn.Parameter(dense.c_proj.bias.detach().clone())
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """``(B, T, C)`` in, ``(B, T, C)`` out, equal to the dense MLP's on every rank."""
        # BEGIN SOLUTION m5: f, column-parallel c_fc, GELU, row-parallel c_proj, g, then the bias once
        x = CopyToParallel.apply(x, self.comm)
        hidden = F.gelu(F.linear(x, self.fc_weight, self.fc_bias))  # (B, T, H/N)
        partial = F.linear(hidden, self.proj_weight)  # (B, T, C), this rank's share
        return ReduceFromParallel.apply(partial, self.comm) + self.proj_bias
        # END SOLUTION

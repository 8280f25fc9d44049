"""The model and the data every experiment trains: lab 7's GPT on seeded token batches.

The data is random tokens from a seeded generator, one batch per step, so
any process can rebuild step k's batch from ``(seed, k)`` alone: a
single-process oracle, every rank of a data-parallel run, and a job
restarted from a checkpoint all see the same rows. Learning anything is
not the point; equal arithmetic is.

    model = build_model(SIZES["tiny"], seed=0)        # the same weights everywhere
    idx, targets = batch(SIZES["tiny"], step=3, rows=8, seed=0)
    lo, hi = rank_rows(8, rank=1, world_size=4)        # this rank's rows
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from labs.transformer import GPT, GPTConfig

# Model sizes: tiny for the tests, small for timings where compute must show.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {
        "vocab_size": 32,
        "block_size": 8,
        "n_layer": 2,
        "n_head": 2,
        "n_embd": 16,
    },
    "small": {
        "vocab_size": 64,
        "block_size": 32,
        "n_layer": 4,
        "n_head": 4,
        "n_embd": 96,
    },
    "medium": {
        "vocab_size": 256,
        "block_size": 64,
        "n_layer": 4,
        "n_head": 4,
        "n_embd": 192,
    },
}


def model_config(size: dict[str, Any]) -> GPTConfig:
    return GPTConfig(**{k: int(v) for k, v in size.items()})


def build_model(size: dict[str, Any], seed: int) -> GPT:
    """Lab 7's GPT with weights drawn from ``seed``: the same in every process."""
    torch.manual_seed(seed)
    return GPT(model_config(size))


def batch(
    size: dict[str, Any], *, step: int, rows: int, seed: int
) -> tuple[Tensor, Tensor]:
    """Step ``step``'s ``(idx, targets)``, each ``(rows, block_size)``, from ``(seed, step)``."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    tokens = torch.randint(
        int(size["vocab_size"]),
        (rows, int(size["block_size"]) + 1),
        generator=generator,
    )
    return tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()


def rank_rows(rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, end)`` of the rows rank ``rank`` trains on (the first ones one longer)."""
    base, extra = divmod(rows, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def state_of(model: torch.nn.Module) -> dict[str, Tensor]:
    """A detached copy of the model's weights, to send back to the parent."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}

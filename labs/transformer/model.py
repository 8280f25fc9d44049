"""A GPT: token and position embeddings, a stack of blocks, a language-model head.

    idx (B, T) ─ wte ─┐
                      + ─ Block × n_layer ─ ln_f ─ lm_head ─ logits (B, T, V)
    pos (T,)   ─ wpe ─┘

The model predicts token ``t + 1`` from tokens ``≤ t`` at every position at
once, so one forward pass over a ``T``-long window gives ``T`` training
examples. :func:`parameter_count` is the closed form of its size.

Check it: ``labkit check transformer`` (milestones m2 and m3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labs.transformer.layers import Block, LayerNorm

if TYPE_CHECKING:
    from labs.transformer.kv_cache import KVCache


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int  # V: distinct tokens (characters here)
    block_size: int = 128  # the context window: the most positions the model sees
    n_layer: int = 4  # L: blocks in the stack
    n_head: int = 4  # H: attention heads per block
    n_embd: int = 128  # C: width of the residual stream

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"GPTConfig.{name} must be >= 1, got {getattr(self, name)}."
                )
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}."
            )

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head


def parameter_count(config: GPTConfig) -> int:
    """The number of trainable parameters of ``GPT(config)``, in closed form.

    Count, without building the module: the token and position embeddings;
    in each of the ``L`` blocks, two layer norms (a weight and a bias each),
    the attention's q/k/v projection and output projection, and the MLP's two
    linear layers (all with biases); the final layer norm; and the head (no
    bias, not tied to the token embedding). Write it as a polynomial in
    ``V``, ``P = block_size``, ``L`` and ``C``: does ``n_head`` appear?

    Returns:
        The total, equal to ``sum(p.numel() for p in GPT(config).parameters())``.
    """
    # BEGIN SOLUTION m2: add up the embeddings, L blocks, the final norm and the head
    V, P, L, C = config.vocab_size, config.block_size, config.n_layer, config.n_embd
    embeddings = V * C + P * C
    # norms 2·2C; q, k, v: C·3C + 3C; out: C·C + C; MLP: C·4C + 4C + 4C·C + C
    # = 12C² + 13C per block, whatever the number of heads
    per_block = 2 * (2 * C) + (C * 3 * C + 3 * C) + (C * C + C)
    per_block += (C * 4 * C + 4 * C) + (4 * C * C + C)
    return embeddings + L * per_block + 2 * C + C * V
    # END SOLUTION


class GPT(nn.Module):
    """A decoder-only transformer language model (nanoGPT's layout, no dropout)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token -> (C,)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # position -> (C,)
        self.blocks = nn.ModuleList(
            Block(config.n_embd, config.n_head) for _ in range(config.n_layer)
        )
        self.ln_f = LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        # GPT-2: each block adds two projections onto the residual stream, so
        # shrink them by √(2L) to keep the stream's variance flat with depth.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # Small random weights: zeros would make every unit in a layer compute
        # the same thing and get the same gradient (the symmetry never breaks).
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(
        self,
        idx: Tensor,
        targets: Tensor | None = None,
        *,
        key_padding_mask: Tensor | None = None,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Next-token logits, and the mean cross-entropy if ``targets`` are given.

        Args:
            idx: token ids ``(B, T)``.
            targets: the next token at each position ``(B, T)``; ``-1`` is
                ignored by the loss (use it for padding).
            key_padding_mask: ``(B, T)`` bool, ``True`` at padding positions.
            cache: a :class:`~labs.transformer.kv_cache.KVCache` (m4). ``idx``
                then holds only the *new* tokens; they sit at positions
                ``cache.length ...`` and their keys and values are appended.

        Returns:
            ``(logits (B, T, V), loss)``; ``loss`` is ``None`` without targets.
        """
        if idx.dim() != 2 or idx.dtype != torch.long:
            raise ValueError(
                f"idx must be a (B, T) tensor of token ids (torch.long), got shape "
                f"{tuple(idx.shape)} and dtype {idx.dtype}."
            )
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(
                f"{start + T} positions do not fit the context window "
                f"block_size={self.config.block_size}; crop the input to its last "
                f"{self.config.block_size - start} tokens."
            )
        caches = cache.layers if cache is not None else [None] * len(self.blocks)
        pos = torch.arange(start, start + T, device=idx.device)  # (T,)
        # BEGIN SOLUTION m3: embed tokens + positions, run the blocks (each with its cache), ln_f, lm_head; cross-entropy over (B*T, V)
        x = self.wte(idx) + self.wpe(pos)  # (B, T, C) + (T, C) -> (B, T, C)
        for block, layer_cache in zip(self.blocks, caches, strict=True):
            x = block(x, key_padding_mask=key_padding_mask, cache=layer_cache)
        x = self.ln_f(x)  # (B, T, C)
        logits = self.lm_head(x)  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(
            logits.view(B * T, -1), targets.reshape(B * T), ignore_index=-1
        )
        return logits, loss
        # END SOLUTION

"""The pieces of a GPT block: layer norm, multi-head attention, MLP, the block.

A pre-norm block (GPT-2 and later) normalises the *input* of each sub-layer
and adds the sub-layer's output back onto the residual stream::

    x = x + attn(ln_1(x))
    x = x + mlp(ln_2(x))

so the residual path from the block's input to its output is the identity,
which is why deep stacks of them train without a warm start or tiny learning
rates. Shapes follow nanoGPT: ``B`` batch, ``T`` time, ``C = n_embd`` channels,
``H = n_head`` heads of size ``hs = C / H``.

Check it: ``labkit check transformer`` (milestone m2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labs.transformer.attention import scaled_dot_product_attention

if TYPE_CHECKING:
    from labs.transformer.kv_cache import LayerKVCache


class LayerNorm(nn.Module):
    """Normalise each position over its channels, then scale and shift.

    ``y = (x − mean(x)) / √(var(x) + eps) · weight + bias``, with the mean and
    the *biased* variance taken over the last dimension. Unlike batch norm it
    uses no statistics across the batch, so it behaves the same in training
    and inference and for a batch of one. Equal to ``torch.nn.LayerNorm(C)``.
    """

    def __init__(self, n_embd: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_embd))  # (C,)
        self.bias = nn.Parameter(torch.zeros(n_embd))  # (C,)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.weight.shape[0]:
            raise ValueError(
                f"LayerNorm({self.weight.shape[0]}) got input with last dimension "
                f"{x.shape[-1]}; the channels must match n_embd."
            )
        # BEGIN SOLUTION m2: normalise over the last dimension (biased variance), then scale by weight and shift by bias
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = x.var(dim=-1, unbiased=False, keepdim=True)  # (..., 1)
        x_hat = (x - mean) / torch.sqrt(var + self.eps)  # (..., C)
        return x_hat * self.weight + self.bias
        # END SOLUTION


class MultiHeadAttention(nn.Module):
    """``H`` attention heads of size ``C / H`` side by side, then a projection.

    One linear layer ``c_attn`` makes q, k and v for every head at once
    (its output is ``[q | k | v]``, each ``C`` wide, the layout of
    ``nn.MultiheadAttention.in_proj_weight``); ``c_proj`` mixes the heads.
    """

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        if n_embd % n_head != 0:
            raise ValueError(
                f"n_embd={n_embd} must be divisible by n_head={n_head} so every "
                "head gets the same size; change one of them."
            )
        self.n_embd, self.n_head = n_embd, n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # x -> [q | k | v]
        self.c_proj = nn.Linear(n_embd, n_embd)  # merged heads -> residual stream

    def forward(
        self,
        x: Tensor,
        *,
        causal: bool = True,
        key_padding_mask: Tensor | None = None,
        cache: LayerKVCache | None = None,
    ) -> Tensor:
        """Self-attention over ``x``.

        Args:
            x: ``(B, T, C)``.
            causal: each position attends only to itself and earlier ones.
            key_padding_mask: ``(B, T)`` bool, ``True`` at padding positions.
            cache: this layer's KV cache (milestone m4). The new keys and values
                are appended to it and the queries attend over everything cached.

        Returns:
            ``(B, T, C)``.
        """
        B, T, C = x.shape
        if self.n_embd != C:
            raise ValueError(
                f"expected {self.n_embd} channels, got x of shape {x.shape}."
            )
        if cache is not None and key_padding_mask is not None:
            raise ValueError(
                "key_padding_mask is not supported together with a KV cache; "
                "generate from unpadded prompts (one prompt length per batch)."
            )
        hs = C // self.n_head
        # BEGIN SOLUTION m2: project x to q, k, v and split each into heads of shape (B, H, T, hs)
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, H, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, H, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, H, T, hs)
        # END SOLUTION
        if cache is not None:
            k, v = cache.append(k, v)  # (B, H, T_cached + T, hs): the whole prefix
        # BEGIN SOLUTION m2: attend (with the masks), merge the heads back to (B, T, C), project with c_proj
        y = scaled_dot_product_attention(
            q, k, v, causal=causal, key_padding_mask=key_padding_mask
        )  # (B, H, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.c_proj(y)
        # END SOLUTION


class MLP(nn.Module):
    """Position-wise feed-forward: ``Linear(C, 4C) → GELU → Linear(4C, C)``.

    The GELU is the exact one, ``x·Φ(x)`` with the normal CDF (``nn.GELU()``'s
    default), not GPT-2's tanh approximation.
    """

    def __init__(self, n_embd: int):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x: Tensor) -> Tensor:
        # BEGIN SOLUTION m2: expand to 4C, GELU (exact, erf form), project back to C
        h = F.gelu(self.c_fc(x))  # (B, T, 4C)
        return self.c_proj(h)  # (B, T, C)
        # END SOLUTION


class Block(nn.Module):
    """A pre-norm transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd)
        self.attn = MultiHeadAttention(n_embd, n_head)
        self.ln_2 = LayerNorm(n_embd)
        self.mlp = MLP(n_embd)

    def forward(
        self,
        x: Tensor,
        *,
        key_padding_mask: Tensor | None = None,
        cache: LayerKVCache | None = None,
    ) -> Tensor:
        """``(B, T, C) -> (B, T, C)``; causal self-attention, then the MLP."""
        # BEGIN SOLUTION m2: the two pre-norm residual updates (pass key_padding_mask and cache to attn)
        x = x + self.attn(
            self.ln_1(x), causal=True, key_padding_mask=key_padding_mask, cache=cache
        )  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)
        # END SOLUTION

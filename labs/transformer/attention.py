"""Scaled dot-product attention with a causal and a key-padding mask.

The one equation the whole lab rests on::

    Attention(Q, K, V) = softmax(Q Kᵀ / √d + M) V

where ``M`` is 0 where a query may look at a key and −∞ where it may not.
Two masks build ``M``:

- **causal**: query ``i`` sees keys ``j ≤ i`` only, so a language model cannot
  read the token it is asked to predict. When there are fewer queries than
  keys (decoding with a KV cache) the mask is aligned to the *last* query:
  the queries are the newest ``T_q`` positions of a ``T_k``-long sequence.
- **key padding**: ``key_padding_mask[b, j]`` is ``True`` where key ``j`` of
  sequence ``b`` is padding, the same convention as
  ``torch.nn.MultiheadAttention`` (and the *opposite* of the boolean
  ``attn_mask`` of ``F.scaled_dot_product_attention``, where ``True`` means
  "may attend").

**Fully masked rows.** A query that may see no key at all (every key padded,
say) has no meaningful softmax: ``softmax([−∞, …, −∞])`` is ``0/0 = NaN``.
Here such a row gets weights of exactly 0, so its output is the zero vector
and no NaN reaches the loss or the gradients. PyTorch's
``F.scaled_dot_product_attention`` does the same; ``nn.MultiheadAttention``
returns NaN.

Check it: ``labkit check transformer`` (milestone m1).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def causal_mask(t_q: int, t_k: int, device: torch.device | None = None) -> Tensor:
    """Which keys each query may attend to under causality.

    The ``t_q`` queries are the last ``t_q`` positions of a ``t_k``-long
    sequence, so query ``i`` sits at absolute position ``i + t_k − t_q`` and
    may see keys ``j ≤ i + t_k − t_q``. With ``t_q == t_k`` this is the usual
    lower-triangular matrix; with ``t_q == 1`` (one decoding step) it allows
    every key.

    Args:
        t_q: number of queries.
        t_k: number of keys, at least ``t_q``.
        device: where to build the mask.

    Returns:
        A boolean tensor of shape ``(t_q, t_k)``, ``True`` where attention is allowed.
    """
    if t_q < 1 or t_k < t_q:
        raise ValueError(
            f"causal_mask needs 1 <= t_q <= t_k (the queries are the newest "
            f"positions of the key sequence), got t_q={t_q}, t_k={t_k}."
        )
    # BEGIN SOLUTION m1: allow key j for query i when j <= i + (t_k - t_q)
    rows = torch.arange(t_q, device=device).unsqueeze(1)  # (t_q, 1)
    cols = torch.arange(t_k, device=device).unsqueeze(0)  # (1, t_k)
    return cols <= rows + (t_k - t_q)  # (t_q, t_k)
    # END SOLUTION


def _check_inputs(q: Tensor, k: Tensor, key_padding_mask: Tensor | None) -> None:
    if q.dim() < 2 or k.dim() != q.dim():
        raise ValueError(
            f"q and k must have the same number of dimensions (..., T, d), got "
            f"q {tuple(q.shape)} and k {tuple(k.shape)}."
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must share the head size d (last dimension), got "
            f"{q.shape[-1]} and {k.shape[-1]}."
        )
    if key_padding_mask is not None:
        if key_padding_mask.dtype != torch.bool:
            raise TypeError(
                f"key_padding_mask must be a bool tensor (True = padding), got "
                f"{key_padding_mask.dtype}; convert it with `.bool()`."
            )
        expected = (q.shape[0], k.shape[-2])
        if q.dim() < 3 or tuple(key_padding_mask.shape) != expected:
            raise ValueError(
                f"key_padding_mask must have shape (B, T_k) = {expected} for q of "
                f"shape {tuple(q.shape)}, got {tuple(key_padding_mask.shape)}."
            )


def attention_weights(
    q: Tensor,
    k: Tensor,
    *,
    causal: bool = False,
    key_padding_mask: Tensor | None = None,
    scale: float | None = None,
) -> Tensor:
    """The attention matrix ``softmax(q kᵀ · scale + M)``.

    Args:
        q: queries, shape ``(B, ..., T_q, d)`` (e.g. ``(B, H, T_q, d)``).
        k: keys, shape ``(B, ..., T_k, d)``.
        causal: apply :func:`causal_mask`.
        key_padding_mask: ``(B, T_k)`` bool, ``True`` where the key is padding.
        scale: multiplies the scores; ``None`` means ``1/√d``. Pass ``1.0`` to
            see what happens without scaling (the √d experiment).

    Returns:
        Weights of shape ``(B, ..., T_q, T_k)``; each row sums to 1, except a
        row that may see no key at all, which is all zeros (see module docstring).
    """
    _check_inputs(q, k, key_padding_mask)
    d = q.shape[-1]
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    # BEGIN SOLUTION m1: scores, the -inf mask (causal and padding), softmax; zero rows with no visible key
    scores = (q @ k.transpose(-2, -1)) * scale  # (B, ..., T_q, T_k)
    t_q, t_k = scores.shape[-2], scores.shape[-1]
    allowed = torch.ones(t_q, t_k, dtype=torch.bool, device=q.device)
    if causal:
        allowed = causal_mask(t_q, t_k, device=q.device)  # (T_q, T_k)
    if key_padding_mask is not None:
        # (B, T_k) -> (B, 1, ..., 1, T_k): broadcast over heads and queries
        keep = ~key_padding_mask.view(q.shape[0], *([1] * (q.dim() - 2)), t_k)
        allowed = allowed & keep  # (B, ..., T_q, T_k)
    allowed = allowed.expand_as(scores)
    scores = scores.masked_fill(~allowed, float("-inf"))
    # A row with no visible key would be softmax(-inf, ..., -inf) = NaN; give it
    # finite scores, then zero its weights, so no NaN appears even in gradients.
    has_key = allowed.any(dim=-1, keepdim=True)  # (B, ..., T_q, 1)
    scores = scores.masked_fill(~has_key, 0.0)
    weights = torch.softmax(scores, dim=-1)  # (B, ..., T_q, T_k)
    return weights.masked_fill(~has_key, 0.0)
    # END SOLUTION


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    key_padding_mask: Tensor | None = None,
    scale: float | None = None,
) -> Tensor:
    """``softmax(q kᵀ / √d + M) v``, equal to ``F.scaled_dot_product_attention``.

    Args:
        q: ``(B, ..., T_q, d)``.
        k: ``(B, ..., T_k, d)``.
        v: ``(B, ..., T_k, d_v)``.
        causal, key_padding_mask, scale: as in :func:`attention_weights`.

    Returns:
        ``(B, ..., T_q, d_v)``; the zero vector for a query that sees no key.
    """
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"k and v must have one row per key, got T_k={k.shape[-2]} for k and "
            f"{v.shape[-2]} for v."
        )
    weights = attention_weights(
        q, k, causal=causal, key_padding_mask=key_padding_mask, scale=scale
    )  # (B, ..., T_q, T_k)
    return weights @ v  # (B, ..., T_q, d_v)


def attention_entropy(weights: Tensor) -> Tensor:
    """Entropy ``−Σ p log p`` (nats) of each attention row, ``(..., T_q)``.

    ``log T_k`` for uniform attention, 0 for a one-hot (saturated) row.
    """
    logs = torch.log(weights.clamp_min(1e-30))
    return -(weights * logs).sum(dim=-1)

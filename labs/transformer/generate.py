"""Autoregressive generation: sampling with temperature and top-k, with or without a KV cache.

Each step turns the logits of the last position into one next token:

- **temperature** ``τ`` divides the logits before the softmax,
  ``p_i ∝ exp(z_i / τ)``: ``τ < 1`` sharpens the distribution, ``τ > 1``
  flattens it, and ``τ → 0`` tends to the argmax (``τ = 0`` *is* greedy here);
- **top-k** keeps the ``k`` largest logits and renormalises over them, so a
  token outside the top ``k`` is never sampled (``k = 1`` is greedy).

Without a cache every step re-runs the model on the whole context (cropped
to ``block_size``). With a :class:`~labs.transformer.kv_cache.KVCache` the
prompt is run once ("prefill") and then each step feeds only the token just
chosen. Greedy outputs are identical either way.

Run it: ``labkit run transformer`` prints a sample; check it with
``labkit check transformer`` (milestone m4).
"""

from __future__ import annotations

import torch
from torch import Tensor

from labs.transformer.kv_cache import KVCache
from labs.transformer.model import GPT


def sample_next(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Pick the next token of each sequence from its logits.

    Args:
        logits: ``(B, V)`` unnormalised scores for the next token.
        temperature: ``τ ≥ 0``; 0 means greedy (argmax).
        top_k: sample only among the ``k`` largest logits (``1 ≤ k ≤ V``);
            exactly ``k`` candidates remain even when logits tie at the k-th
            value (``torch.topk`` picks which). ``None`` keeps all ``V``.
        generator: a seeded ``torch.Generator`` for reproducible samples.

    Returns:
        ``(B, 1)`` token ids (``torch.long``).
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be (B, V), got shape {tuple(logits.shape)}.")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}.")
    V = logits.shape[-1]
    if top_k is not None and not 1 <= top_k <= V:
        raise ValueError(
            f"top_k must be between 1 and the vocabulary size {V}, got {top_k}."
        )
    # BEGIN SOLUTION m4: greedy at temperature 0; else scale by 1/temperature, mask all but the top k to -inf, sample from the softmax
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    scaled = logits / temperature  # (B, V)
    if top_k is not None:
        top_values, top_index = torch.topk(scaled, top_k, dim=-1)  # (B, k)
        # exactly k survivors, even when the k-th value is tied
        scaled = torch.full_like(scaled, float("-inf")).scatter(
            -1, top_index, top_values
        )
    probs = torch.softmax(scaled, dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
    # END SOLUTION


@torch.no_grad()
def generate(
    model: GPT,
    idx: Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Extend each prompt in ``idx`` by ``max_new_tokens`` tokens.

    Args:
        model: the language model.
        idx: prompts ``(B, T)`` of token ids, all of the same length.
        max_new_tokens: tokens to add.
        temperature, top_k, generator: as in :func:`sample_next`.
        use_cache: decode with a KV cache (prefill the prompt once, then one
            token per step). The cache cannot slide past the context window:
            ``T + max_new_tokens − 1`` must fit in ``block_size``. Without the
            cache the context is cropped to its last ``block_size`` tokens.

    Returns:
        ``(B, T + max_new_tokens)``: the prompts followed by the new tokens.
    """
    if idx.dim() != 2 or idx.shape[1] < 1:
        raise ValueError(
            f"idx must be (B, T) with T >= 1, got shape {tuple(idx.shape)}."
        )
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}.")
    if max_new_tokens == 0:
        return idx
    block_size = model.config.block_size
    B, T = idx.shape
    cache = None
    if use_cache:
        positions = T + max_new_tokens - 1  # the last new token is never fed back
        if positions > block_size:
            raise ValueError(
                f"KV-cache generation needs {T} prompt + {max_new_tokens} new - 1 = "
                f"{positions} positions but block_size is {block_size}; shorten the "
                "prompt, generate fewer tokens, or pass use_cache=False (which crops)."
            )
        cache = KVCache.for_model(model, batch=B, max_len=positions)
    sample = {"temperature": temperature, "top_k": top_k, "generator": generator}
    # BEGIN SOLUTION m4: the decoding loop; with the cache, prefill the prompt then feed one token per step; without, re-run the cropped context
    if cache is not None:
        logits, _ = model(idx, cache=cache)  # prefill: (B, T, V)
        for step in range(max_new_tokens):
            next_id = sample_next(logits[:, -1, :], **sample)  # (B, 1)
            idx = torch.cat([idx, next_id], dim=1)  # (B, T + step + 1)
            if step < max_new_tokens - 1:
                logits, _ = model(next_id, cache=cache)  # (B, 1, V)
        return idx
    for _ in range(max_new_tokens):
        context = idx[:, -block_size:]  # (B, <= block_size)
        logits, _ = model(context)  # (B, T_ctx, V)
        next_id = sample_next(logits[:, -1, :], **sample)  # (B, 1)
        idx = torch.cat([idx, next_id], dim=1)
    return idx
    # END SOLUTION

"""One forward pass for a whole batch of sequences of different lengths.

    logits = forward_batch(model, kv, seq_ids, past_lens, new_tokens)   # (B, V)

Continuous batching puts sequences at different points into one forward
pass: one is prefilling a 30-token prompt, another decoding its 90th token,
a third its 2nd. Sequence ``b`` has ``past[b]`` positions already in the
cache and feeds ``n[b]`` new tokens (its whole prompt on the step it
starts, then one token per step). The new tokens are right-padded to
``T = max n`` and every sequence's cached positions, read back through the
KV store, are padded to ``W = max (past + n)``::

    new token t of sequence b  sits at position  past[b] + t
    it may attend to key j     iff  j <= past[b] + t   (causal, per sequence)
                               and  j <  past[b] + n[b] (a real key, not padding)

Padding must be masked *per sequence*: a padded key slot holds whatever the
pool had there (another sequence's keys, or zeros), and a short sequence
that attends to it gets a different answer than it would alone. Positions
are per sequence too: the embedding of a token is ``wpe[past[b] + t]``, not
the batch's longest position. With both right, every sequence's logits are
those it would get on its own, whatever shares its batch (the m2 oracle).

This is lab 7's GPT layer by layer (its modules, its weights), with the
attention rewritten to read the KV store: each layer writes the new keys
and values into their slots, then gathers each sequence's whole history.

Check it: ``labkit check llm_serving`` (milestone m2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from labs.llm_serving.kv_store import KVStore
from labs.transformer.model import GPT


def attention_masks(
    past_lens: Tensor, new_lens: Tensor, width: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Positions and masks of a padded batch.

    Args:
        past_lens: ``(B,)`` positions each sequence has cached.
        new_lens: ``(B,)`` new tokens each feeds (``>= 1``).
        width: ``W``, the key width, at least ``max(past + new)``.

    Returns:
        ``(positions, valid, allowed)``: ``positions (B, T)`` the absolute
        position of each new token (padding rows included); ``valid (B, T)``
        True for a real new token; ``allowed (B, T, W)`` True where new token
        ``t`` of sequence ``b`` may attend to key ``j``. Every row of
        ``allowed`` has at least one True (padding queries see their own
        sequence), so no softmax row is all ``-inf``.
    """
    T = int(new_lens.max())
    device = past_lens.device
    # BEGIN SOLUTION m2: per-sequence positions past + t; valid where t < n; a key j is allowed when j <= that position and j < past + n (not padding)
    steps = torch.arange(T, device=device)  # (T,)
    positions = past_lens[:, None] + steps[None, :]  # (B, T)
    valid = steps[None, :] < new_lens[:, None]  # (B, T)
    keys = torch.arange(width, device=device)  # (W,)
    total = past_lens + new_lens  # (B,)
    causal = keys[None, None, :] <= positions[:, :, None]  # (B, T, W)
    real = keys[None, None, :] < total[:, None, None]  # (B, 1, W)
    allowed = causal & real  # (B, T, W)
    return positions, valid, allowed
    # END SOLUTION


@torch.no_grad()
def forward_batch(
    model: GPT,
    kv: KVStore,
    seq_ids: list[int],
    past_lens: list[int],
    new_tokens: list[list[int]],
) -> Tensor:
    """Run one step for a batch; the logits of each sequence's last new token.

    Every sequence must already have room in ``kv`` for its
    ``past + n`` positions (``kv.reserve``); its new keys and values are
    written there.

    Returns:
        ``(B, V)`` logits.
    """
    if not seq_ids or not all(new_tokens):
        raise ValueError(
            "forward_batch needs at least one sequence, each with >= 1 new token."
        )
    config = model.config
    device = model.wte.weight.device
    B = len(seq_ids)
    past = torch.tensor(past_lens, device=device)  # (B,)
    n = torch.tensor([len(t) for t in new_tokens], device=device)  # (B,)
    T = int(n.max())
    W = int((past + n).max())
    if config.block_size < W:
        raise ValueError(
            f"a sequence would reach position {W - 1}, past the context window "
            f"{config.block_size}; finish it before it gets there."
        )
    padded = [tokens + [0] * (T - len(tokens)) for tokens in new_tokens]
    idx = torch.tensor(padded, dtype=torch.long, device=device)  # (B, T), 0 = padding
    positions, valid, allowed = attention_masks(past, n, W)
    # Padding rows may run past the window; their output is thrown away.
    x = model.wte(idx) + model.wpe(
        positions.clamp(max=config.block_size - 1)
    )  # (B, T, C)
    table = kv.slot_table(seq_ids, W)  # (B, W)
    real = valid.reshape(-1).nonzero()[:, 0]  # (N,) rows of (B·T) that are real tokens
    write_slots = table.gather(1, positions.clamp(max=W - 1)).reshape(-1)[real]  # (N,)
    H, hs, C = config.n_head, config.head_size, config.n_embd
    mask = allowed[:, None, :, :]  # (B, 1, T, W), broadcast over the heads
    for layer, block in enumerate(model.blocks):
        h = block.ln_1(x)  # (B, T, C)
        q, k, v = block.attn.c_attn(h).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        new_k = k.reshape(B * T, H, hs).index_select(0, real)  # (N, H, hs)
        new_v = v.reshape(B * T, H, hs).index_select(0, real)  # (N, H, hs)
        kv.write(layer, write_slots, new_k, new_v)
        keys, values = kv.gather(layer, table)  # 2 x (B, H, W, hs)
        # One fused kernel for softmax(q·kᵀ/√hs, masked)·v: it reads the gathered
        # keys in place, where q @ keys.transpose would copy them first.
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        x = x + block.attn.c_proj(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)
        x = x + block.mlp(block.ln_2(x))  # (B, T, C)
    last = x[torch.arange(B, device=device), n - 1]  # (B, C): each one's last new token
    return model.lm_head(model.ln_f(last))  # (B, V)


def logits_alone(model: GPT, tokens: list[int]) -> Tensor:
    """Lab 7's own forward over one whole sequence: the next-token logits ``(V,)``."""
    idx = torch.tensor([tokens], device=model.wte.weight.device)  # (1, T)
    with torch.no_grad():
        logits, _ = model(idx)  # (1, T, V)
    return logits[0, -1]

"""The KV cache: keep every layer's keys and values so decoding never recomputes them.

Without a cache, generating token ``t + 1`` runs the model over all ``t``
tokens again, although the keys and values of the first ``t − 1`` positions
have not changed (causal attention: a position never looks ahead). With a
cache, each step feeds only the newest token: its query attends over the
cached keys and values, and its own key and value are appended.

It saves compute, ``O(t)`` instead of ``O(t²)`` attention work per step and one
position instead of ``t`` through every linear layer, and costs memory that
grows linearly with the sequence::

    bytes = 2 (K and V) × n_layer × n_kv_head × head_size × seq_len × batch × bytes_per_element

Multi-query and grouped-query attention shrink it by sharing one K/V head
among several query heads (smaller ``n_kv_head``); this lab's model has one
K/V head per query head.

Check it: ``labkit check transformer`` (milestone m4).
"""

from __future__ import annotations

import torch
from torch import Tensor

from labs.transformer.model import GPT


def kv_cache_bytes(
    *,
    n_layer: int,
    n_kv_head: int,
    head_size: int,
    seq_len: int,
    batch: int = 1,
    bytes_per_element: int = 4,
) -> int:
    """Memory for the cached keys and values of ``batch`` sequences of ``seq_len``.

    ``2 × n_layer × n_kv_head × head_size × seq_len × batch × bytes_per_element``
    (2 for K and V; 4 bytes per float32 element, 2 for float16/bfloat16).
    """
    # BEGIN SOLUTION m4: K and V, for every layer, KV head, head dimension, position and sequence
    return 2 * n_layer * n_kv_head * head_size * seq_len * batch * bytes_per_element
    # END SOLUTION


class LayerKVCache:
    """One layer's cache: preallocated ``(B, H, max_len, hs)`` buffers for K and V.

    Preallocating the whole window (as serving systems reserve a sequence's
    slots up front) makes appends copy only the new positions.
    """

    def __init__(
        self,
        batch: int,
        n_head: int,
        head_size: int,
        max_len: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        shape = (batch, n_head, max_len, head_size)
        self.k = torch.zeros(shape, dtype=dtype, device=device)  # (B, H, max_len, hs)
        self.v = torch.zeros(shape, dtype=dtype, device=device)  # (B, H, max_len, hs)
        self.length = 0  # positions filled so far

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    @property
    def nbytes(self) -> int:
        """Bytes held by the K and V buffers (the whole preallocated window)."""
        return self.k.nbytes + self.v.nbytes

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store ``T`` new positions and return the keys and values of all of them.

        Args:
            k: new keys ``(B, H, T, hs)``.
            v: new values ``(B, H, T, hs)``.

        Returns:
            ``(k_all, v_all)``, each ``(B, H, length, hs)`` with the new
            positions last, where ``length`` is the count after this append.
        """
        T = k.shape[2]
        expected = (self.k.shape[0], self.k.shape[1], T, self.k.shape[3])
        if tuple(k.shape) != expected or tuple(v.shape) != expected:
            raise ValueError(
                f"k and v must have shape (B, H, T, hs) = {expected} to match the "
                f"cache, got {tuple(k.shape)} and {tuple(v.shape)}."
            )
        if self.length + T > self.max_len:
            raise ValueError(
                f"the cache holds {self.max_len} positions; {self.length} are filled "
                f"and {T} more do not fit. Allocate a longer cache."
            )
        # BEGIN SOLUTION m4: write k and v at positions [length, length + T), advance length, return the filled prefix
        end = self.length + T
        self.k[:, :, self.length : end] = k
        self.v[:, :, self.length : end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]  # 2 x (B, H, end, hs)
        # END SOLUTION


class KVCache:
    """The caches of every layer of one model, for one batch of sequences."""

    def __init__(self, layers: list[LayerKVCache]):
        if not layers:
            raise ValueError("a KVCache needs at least one layer.")
        self.layers = layers

    @classmethod
    def for_model(
        cls, model: GPT, *, batch: int, max_len: int, dtype: torch.dtype | None = None
    ) -> KVCache:
        """An empty cache sized for ``model``: ``n_layer`` layers of ``max_len`` positions."""
        config = model.config
        if not 1 <= max_len <= config.block_size:
            raise ValueError(
                f"max_len must be between 1 and the model's block_size "
                f"{config.block_size}, got {max_len}."
            )
        weight = model.wte.weight
        return cls(
            [
                LayerKVCache(
                    batch,
                    config.n_head,
                    config.head_size,
                    max_len,
                    dtype=dtype or weight.dtype,
                    device=weight.device,
                )
                for _ in range(config.n_layer)
            ]
        )

    @property
    def length(self) -> int:
        """Positions cached so far (the same in every layer between forward passes)."""
        return self.layers[0].length

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self.layers)

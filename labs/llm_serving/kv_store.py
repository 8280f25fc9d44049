"""Where the keys and values of many sequences live: one pool of token slots.

    kv = ContiguousKV.for_model(model, capacity_tokens=2048)   # 2048 // block_size slots
    kv.reserve(seq_id, 40)          # room for positions [0, 40); False if none
    slots = kv.slots(seq_id, 0, 40) # where those positions live in the pool
    kv.free(seq_id)

A server holds the cache of every running sequence at once, in memory it
allocates up front (a GPU server takes most of what the weights leave).
Here that memory is one tensor per layer of ``capacity_tokens`` *token
slots*, ``(capacity, H, hs)`` for K and for V. A sequence's position ``p``
lives in some slot; :meth:`KVStore.slots` says which. The batched forward
pass (``batch_forward.py``) only writes and gathers slots, so two very
different memory managers fit behind the same four methods:

- :class:`ContiguousKV`: each sequence gets a whole stretch of
  ``max_len`` (the context window) slots when it starts, as servers did
  before vLLM: simple, but a 20-token answer holds 128 or 256 slots.
- ``PagedKVCache`` (``paged_cache.py``, milestone m3): fixed-size blocks
  handed out as the sequence grows.

``reserved_tokens`` (slots held by live sequences) against ``used_tokens``
(positions they actually hold) is the waste the lab measures.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from labs.transformer.model import GPT


class KVStore(ABC):
    """A pool of token slots holding K and V for every layer."""

    def __init__(
        self,
        *,
        n_layer: int,
        n_head: int,
        head_size: int,
        capacity_tokens: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        if capacity_tokens < 1:
            raise ValueError(f"capacity_tokens must be >= 1, got {capacity_tokens}.")
        shape = (n_layer, capacity_tokens, n_head, head_size)
        self.k = torch.zeros(shape, dtype=dtype, device=device)  # (L, S, H, hs)
        self.v = torch.zeros(shape, dtype=dtype, device=device)  # (L, S, H, hs)
        self.lengths: dict[int, int] = {}  # seq id -> positions reserved (and written)

    @classmethod
    def for_model(cls, model: GPT, *, capacity_tokens: int, **kwargs: int):  # type: ignore[no-untyped-def]
        """A store shaped for ``model``, on its device and in its dtype."""
        config, weight = model.config, model.wte.weight
        return cls(
            n_layer=config.n_layer,
            n_head=config.n_head,
            head_size=config.head_size,
            capacity_tokens=capacity_tokens,
            dtype=weight.dtype,
            device=weight.device,
            **kwargs,
        )

    # --- what a memory manager decides ---------------------------------------------
    @abstractmethod
    def reserve(self, seq_id: int, num_tokens: int) -> bool:
        """Make positions ``[0, num_tokens)`` of ``seq_id`` writable; False (and no change) if out of room."""

    @abstractmethod
    def slot_table(self, seq_ids: list[int], width: int) -> Tensor:
        """``(B, width)`` slot of each sequence's positions ``0..width-1``.

        Entries past a sequence's length point at *some* valid slot (the
        attention mask hides them).
        """

    @abstractmethod
    def free(self, seq_id: int) -> None:
        """Give back everything ``seq_id`` holds."""

    @property
    @abstractmethod
    def reserved_tokens(self) -> int:
        """Slots held by live sequences (whether or not they hold data)."""

    # --- given -----------------------------------------------------------------------
    def slots(self, seq_id: int, start: int, end: int) -> Tensor:
        """``(end - start,)`` slots of positions ``[start, end)`` of one sequence."""
        return self.slot_table([seq_id], end)[0, start:end]

    @property
    def capacity_tokens(self) -> int:
        return self.k.shape[1]

    @property
    def used_tokens(self) -> int:
        """Positions the live sequences hold (each sequence counted once)."""
        return sum(self.lengths.values())

    @property
    def bytes_per_token(self) -> int:
        """K and V of one position in every layer: ``2 · L · H · hs · bytes``."""
        return 2 * self.k[:, 0].numel() * self.k.element_size()

    def write(self, layer: int, slots: Tensor, k: Tensor, v: Tensor) -> None:
        """Store new keys and values ``(N, H, hs)`` at ``slots`` ``(N,)`` of ``layer``."""
        self.k[layer].index_copy_(0, slots, k)
        self.v[layer].index_copy_(0, slots, v)

    def gather(self, layer: int, table: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values at a ``(B, W)`` slot table, each ``(B, H, W, hs)``."""
        B, W = table.shape
        flat = table.reshape(-1)  # index_select is much faster than k[layer, table]
        k = self.k[layer].index_select(0, flat).view(B, W, *self.k.shape[2:])
        v = self.v[layer].index_select(0, flat).view(B, W, *self.v.shape[2:])
        return k.transpose(1, 2), v.transpose(1, 2)  # 2 x (B, H, W, hs)


class ContiguousKV(KVStore):
    """Max-length preallocation: a sequence holds ``max_len`` slots from its start.

    The pool is cut into ``capacity_tokens // max_len`` fixed stretches; a
    sequence takes a free stretch when it starts (however short it will be)
    and gives it back when it ends.
    """

    def __init__(self, *, max_len: int, **kwargs: object):
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if not 1 <= max_len <= self.capacity_tokens:
            raise ValueError(
                f"max_len must be between 1 and capacity_tokens "
                f"{self.capacity_tokens}, got {max_len}."
            )
        self.max_len = max_len
        self.num_slots = self.capacity_tokens // max_len
        self._free = list(range(self.num_slots - 1, -1, -1))  # pop() gives slot 0 first
        self._slot: dict[int, int] = {}  # seq id -> its stretch

    @classmethod
    def for_model(cls, model: GPT, *, capacity_tokens: int, **kwargs: int):  # type: ignore[no-untyped-def]
        kwargs.setdefault("max_len", model.config.block_size)
        return super().for_model(model, capacity_tokens=capacity_tokens, **kwargs)

    def reserve(self, seq_id: int, num_tokens: int) -> bool:
        if num_tokens > self.max_len or not (seq_id in self._slot or self._free):
            return False
        if seq_id not in self._slot:
            self._slot[seq_id] = self._free.pop()
        self.lengths[seq_id] = num_tokens
        return True

    def slot_table(self, seq_ids: list[int], width: int) -> Tensor:
        if width > self.max_len:
            raise ValueError(
                f"width {width} exceeds a stretch of {self.max_len} slots."
            )
        base = torch.tensor([self._slot[s] * self.max_len for s in seq_ids])  # (B,)
        table = base[:, None] + torch.arange(width)[None, :]  # (B, W)
        return table.to(self.k.device)

    def free(self, seq_id: int) -> None:
        slot = self._slot.pop(seq_id, None)
        if slot is None:
            raise KeyError(f"sequence {seq_id} holds no slots; it was freed already.")
        self.lengths.pop(seq_id, None)
        self._free.append(slot)

    @property
    def reserved_tokens(self) -> int:
        return len(self._slot) * self.max_len

    @property
    def free_sequences(self) -> int:
        """Stretches left: how many more sequences can start."""
        return len(self._free)

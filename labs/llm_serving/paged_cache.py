"""The paged KV cache: fixed-size blocks, a block table per sequence, copy-on-write.

    kv = PagedKVCache.for_model(model, capacity_tokens=2048, block_size=16)  # 128 blocks
    kv.reserve(seq_id, 40)        # blocks for positions [0, 40): 3 blocks of 16
    kv.fork(seq_id, other_id, 32) # other_id maps the same first 2 blocks (a shared prefix)
    kv.free(seq_id)

vLLM's PagedAttention, on the CPU. The pool of ``capacity_tokens`` slots is
cut into blocks of ``block_size`` slots. A sequence's **block table** lists
its blocks in order: position ``p`` lives in block ``table[p // block_size]``
at offset ``p % block_size``, so its slot is::

    slot(p) = table[p // block_size] * block_size + p % block_size

Blocks are taken from the free list only as the sequence grows, so a
sequence wastes less than one block (the unfilled tail of its last one),
where max-length preallocation wastes everything between its length and the
context window.

**Shared prefixes.** A new sequence whose prompt starts like a running
one's maps the same blocks (``fork``: each shared block's count goes up)
and skips computing them. A block with more than one user is read-only:
before a sequence writes into it (its first new token may land in the
shared, half-full last block), it gets its own copy, **copy-on-write**: a
fresh block, the old block's contents copied in, the table pointed at the
copy, and the old block released once. Writing into the shared block
instead would overwrite a position the other sequence attends to.

``reserve`` plans first and changes nothing unless *every* block it needs
(new blocks and copies) is free: half a reservation would leak blocks.

Check it: ``labkit check llm_serving`` (milestone m3).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from labs.llm_serving.block_allocator import BlockAllocator
from labs.llm_serving.kv_store import KVStore


class PagedKVCache(KVStore):
    """A KV store that hands out ``block_size``-slot blocks as sequences grow."""

    def __init__(self, *, block_size: int = 16, **kwargs: object):
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if not 1 <= block_size <= self.capacity_tokens:
            raise ValueError(
                f"block_size must be between 1 and capacity_tokens "
                f"{self.capacity_tokens}, got {block_size}."
            )
        self.block_size = block_size
        self.allocator = BlockAllocator(self.capacity_tokens // block_size)
        self.tables: dict[int, list[int]] = {}  # seq id -> its blocks, in order
        self.cow_copies = 0  # blocks copied on write

    def blocks_for(self, num_tokens: int) -> int:
        """Blocks that hold ``num_tokens`` positions."""
        return math.ceil(num_tokens / self.block_size)

    def _plan(self, seq_id: int, num_tokens: int) -> tuple[int, list[int]]:
        """``(new blocks to take, table indices to copy on write)`` for a reservation.

        The positions about to be written are ``[lengths[seq], num_tokens)``;
        a block among them that another sequence also maps must be copied.
        """
        table = self.tables.get(seq_id, [])
        start = self.lengths.get(seq_id, 0)
        needed = self.blocks_for(num_tokens)
        # BEGIN SOLUTION m3: the blocks missing from the table, and the indices of existing blocks that the write [start, num_tokens) touches whose count is > 1
        new = max(0, needed - len(table))
        touched = range(start // self.block_size, min(len(table), needed))
        if num_tokens <= start:
            touched = range(0)
        shared = [i for i in touched if self.allocator.refcount(table[i]) > 1]
        return new, shared
        # END SOLUTION

    def reserve(self, seq_id: int, num_tokens: int) -> bool:
        """Blocks for positions ``[0, num_tokens)``, copying shared blocks about to be written."""
        new, copies = self._plan(seq_id, num_tokens)
        if new + len(copies) > self.allocator.num_free:
            return False
        table = self.tables.setdefault(seq_id, [])
        for index in copies:
            self._copy_on_write(table, index)
        # BEGIN SOLUTION m3: append `new` freshly allocated blocks to the table and record num_tokens as the sequence's length
        table.extend(self.allocator.allocate() for _ in range(new))
        self.lengths[seq_id] = num_tokens
        return True
        # END SOLUTION

    def _copy_on_write(self, table: list[int], index: int) -> None:
        """Give this table its own copy of the shared block at ``table[index]``."""
        # BEGIN SOLUTION m3: allocate a block, copy the old block's K and V slots (every layer) into it, release the old block once, point the table at the copy
        old, new = table[index], self.allocator.allocate()
        bs = self.block_size
        self.k[:, new * bs : (new + 1) * bs] = self.k[:, old * bs : (old + 1) * bs]
        self.v[:, new * bs : (new + 1) * bs] = self.v[:, old * bs : (old + 1) * bs]
        self.allocator.free(old)
        table[index] = new
        self.cow_copies += 1
        # END SOLUTION

    def slot_table(self, seq_ids: list[int], width: int) -> Tensor:
        """``(B, W)`` slots from the block tables; past a table's end, block 0."""
        n_blocks = self.blocks_for(width)
        # BEGIN SOLUTION m3: pad each block table to ceil(width / block_size) entries; slot(p) = table[p // block_size] * block_size + p % block_size
        rows = [
            (self.tables[s] + [0] * n_blocks)[:n_blocks] for s in seq_ids
        ]  # B lists of n_blocks block numbers
        blocks = torch.tensor(rows, dtype=torch.long)  # (B, n_blocks)
        pos = torch.arange(width)  # (W,)
        table = (
            blocks[:, pos // self.block_size] * self.block_size + pos % self.block_size
        )
        return table.to(self.k.device)  # (B, W)
        # END SOLUTION

    def fork(self, src: int, dst: int, num_tokens: int) -> None:
        """``dst`` starts with ``src``'s first ``num_tokens`` positions, sharing their blocks."""
        if dst in self.tables:
            raise ValueError(f"sequence {dst} already has blocks; fork only a new one.")
        if num_tokens > self.lengths.get(src, 0):
            raise ValueError(
                f"sequence {src} holds {self.lengths.get(src, 0)} positions, fewer "
                f"than the {num_tokens} to share."
            )
        # BEGIN SOLUTION m3: share (count up) each of src's first blocks_for(num_tokens) blocks; dst's table is those blocks and its length num_tokens
        shared = self.tables[src][: self.blocks_for(num_tokens)]
        for block in shared:
            self.allocator.share(block)
        self.tables[dst] = list(shared)
        self.lengths[dst] = num_tokens
        # END SOLUTION

    def free(self, seq_id: int) -> None:
        table = self.tables.pop(seq_id, None)
        if table is None:
            raise KeyError(f"sequence {seq_id} holds no blocks; it was freed already.")
        self.lengths.pop(seq_id, None)
        for block in table:
            self.allocator.free(block)

    @property
    def reserved_tokens(self) -> int:
        return self.allocator.num_used * self.block_size

    @property
    def num_free_blocks(self) -> int:
        return self.allocator.num_free

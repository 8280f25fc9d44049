"""A free list of KV-cache blocks with reference counts.

    blocks = BlockAllocator(num_blocks=128)
    b = blocks.allocate()        # a free block, reference count 1
    blocks.share(b)              # a second sequence maps it: count 2
    blocks.free(b)               # count 1: still in use
    blocks.free(b)               # count 0: back on the free list
    blocks.free(b)               # DoubleFree: a bug, caught here and not later

The paged cache (``paged_cache.py``) cuts the KV pool into ``num_blocks``
blocks of ``block_size`` token slots. A block belongs to every sequence
whose block table lists it: two sequences that share a prompt prefix list
the same blocks, so a block goes back on the free list only when the *last*
of them lets go. Freeing a block that is already free is always a bug (a
sequence finished twice, or a table that kept a block it had given away):
if it were let through, the block would sit on the free list twice, be
handed to two sequences, and one would silently overwrite the other's keys.

The free list is a stack: the block freed last is handed out first, which
keeps the blocks in use near the start of the pool.

Check it: ``labkit check llm_serving`` (milestone m3).
"""

from __future__ import annotations


class OutOfBlocks(RuntimeError):
    """No free block is left; the scheduler must preempt a sequence first."""


class DoubleFree(RuntimeError):
    """A block was freed more times than it was allocated or shared."""


class BlockAllocator:
    """Hands out block numbers ``0 .. num_blocks - 1`` and counts their users."""

    def __init__(self, num_blocks: int):
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}.")
        self.num_blocks = num_blocks
        self._free = list(range(num_blocks - 1, -1, -1))  # pop() hands out 0 first
        self._refs = [0] * num_blocks

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def num_used(self) -> int:
        return self.num_blocks - len(self._free)

    def refcount(self, block: int) -> int:
        return self._refs[self._check(block)]

    def _check(self, block: int) -> int:
        if not 0 <= block < self.num_blocks:
            raise IndexError(f"block {block} is not in 0..{self.num_blocks - 1}.")
        return block

    def allocate(self) -> int:
        """A free block, now used once.

        Raises:
            OutOfBlocks: none is free.
        """
        # BEGIN SOLUTION m3: pop a block off the free list (OutOfBlocks if it is empty) and set its count to 1
        if not self._free:
            raise OutOfBlocks(
                f"all {self.num_blocks} blocks are in use; preempt a sequence or "
                "wait for one to finish."
            )
        block = self._free.pop()
        self._refs[block] = 1
        return block
        # END SOLUTION

    def share(self, block: int) -> None:
        """One more sequence maps ``block`` (it must be in use)."""
        if self._refs[self._check(block)] < 1:
            raise DoubleFree(
                f"block {block} is free; only a block in use can be shared."
            )
        self._refs[block] += 1

    def free(self, block: int) -> None:
        """One sequence lets go of ``block``; the last one puts it back on the free list.

        Raises:
            DoubleFree: the block is already free.
        """
        self._check(block)
        # BEGIN SOLUTION m3: refuse a block whose count is already 0 (DoubleFree); decrement; at 0 push it back on the free list
        if self._refs[block] < 1:
            raise DoubleFree(
                f"block {block} is already free; a sequence freed it twice or kept "
                "it in its table after giving it back."
            )
        self._refs[block] -= 1
        if self._refs[block] == 0:
            self._free.append(block)
        # END SOLUTION

"""m3 — the paged KV cache: blocks, tables, copy-on-write, shared prefixes, preemption.

Oracles: a brute-force slot formula, exact block counts, the contents of
another sequence's blocks before and after a write, and the answers of the
contiguous cache (and of each request alone), token for token.
"""

from __future__ import annotations

import math
import random

import pytest
import torch

from labs.llm_serving import (
    BlockAllocator,
    DoubleFree,
    OutOfBlocks,
    PagedKVCache,
    SamplingParams,
    Scheduler,
    Sequence,
    generate_one,
    next_seq_id,
)

BS = 4  # a small block size: many block boundaries in short sequences


def make_seq(tok, prompt, **params):
    return Sequence.create(
        next_seq_id(), prompt, tok.encode(prompt).tolist(), SamplingParams(**params)
    )


def paged(model, blocks, block_size=BS):
    return PagedKVCache.for_model(
        model, capacity_tokens=blocks * block_size, block_size=block_size
    )


def test_the_allocator_counts_users_and_refuses_a_double_free():
    blocks = BlockAllocator(3)
    got = [blocks.allocate() for _ in range(3)]
    assert sorted(got) == [0, 1, 2] and blocks.num_free == 0
    with pytest.raises(OutOfBlocks):
        blocks.allocate()
    blocks.share(got[0])
    blocks.free(got[0])
    assert blocks.num_free == 0, (
        "a shared block stays in use until its last user frees it"
    )
    blocks.free(got[0])
    assert blocks.num_free == 1 and blocks.refcount(got[0]) == 0
    with pytest.raises(DoubleFree):
        blocks.free(got[0])
    assert blocks.num_free == 1, "a refused double free changes nothing"
    assert blocks.allocate() == got[0]


def test_reserve_takes_whole_blocks_as_the_sequence_grows(served):
    kv = paged(served.model, blocks=6)
    assert kv.reserve(1, 5) and len(kv.tables[1]) == 2
    assert kv.reserve(1, 8) and len(kv.tables[1]) == 2, (
        "8 positions fit in 2 blocks of 4"
    )
    assert kv.reserve(1, 9) and len(kv.tables[1]) == 3
    assert kv.reserve(2, 12) and kv.allocator.num_free == 0
    table = list(kv.tables[1])
    assert not kv.reserve(1, 13), "no block is free"
    assert kv.tables[1] == table and kv.lengths[1] == 9, (
        "a failed reserve changes nothing"
    )
    assert kv.reserved_tokens == 6 * BS and kv.used_tokens == 9 + 12
    kv.free(1)
    kv.free(2)
    assert kv.allocator.num_free == 6 and kv.reserved_tokens == 0
    with pytest.raises(KeyError):
        kv.free(1)


def test_slots_follow_the_block_table(served):
    kv = paged(served.model, blocks=10)
    kv.reserve(1, 3)
    kv.reserve(2, 9)
    kv.reserve(1, 10)  # sequence 1's blocks are interleaved with sequence 2's
    table = kv.slot_table([1, 2], 10)
    for row, seq in enumerate((1, 2)):
        for p in range(kv.lengths[seq]):
            expected = kv.tables[seq][p // BS] * BS + p % BS
            assert table[row, p] == expected, (seq, p)


def test_copy_on_write_leaves_the_other_sequence_untouched(served):
    kv = paged(served.model, blocks=8)
    kv.reserve(1, 6)  # positions 0..5: block a full, block b half full
    kv.k[:, :] = torch.randn_like(kv.k)
    kv.fork(1, 2, 6)
    assert kv.tables[2] == kv.tables[1]
    assert all(kv.allocator.refcount(b) == 2 for b in kv.tables[1])
    before = kv.k[:, kv.slot_table([1], 6)[0]].clone()
    free_before = kv.allocator.num_free
    assert kv.reserve(
        2, 7
    )  # sequence 2 writes position 6, inside the shared half-full block
    assert kv.tables[2][0] == kv.tables[1][0], "the full block stays shared"
    assert kv.tables[2][1] != kv.tables[1][1], "the written block was copied"
    assert kv.allocator.refcount(kv.tables[1][1]) == 1 and kv.cow_copies == 1
    assert kv.allocator.num_free == free_before - 1
    torch.testing.assert_close(
        kv.k[:, kv.slot_table([2], 6)[0]],
        before,
        msg="the copy holds the shared positions",
    )
    kv.write(
        0,
        kv.slots(2, 6, 7),
        torch.ones(1, *kv.k.shape[2:]),
        torch.ones(1, *kv.k.shape[2:]),
    )
    torch.testing.assert_close(kv.k[:, kv.slot_table([1], 6)[0]], before)
    kv.free(1)
    kv.free(2)
    assert kv.allocator.num_free == 8, "every block is back, copies included"


def run_all(scheduler, seqs, limit=3000):
    for seq in seqs:
        scheduler.add(seq)
    steps = 0
    while scheduler.has_work:
        scheduler.step()
        steps += 1
        assert steps < limit, "the scheduler never finished (preempting in a loop?)"


def workload(tok, n, seed):
    rng = random.Random(seed)
    prompts = [
        "def f(x):",
        "The ",
        "An object is",
        "class A:",
        "import os",
        "x = 1",
        "It is",
    ]
    return [
        make_seq(
            tok,
            rng.choice(prompts),
            max_tokens=rng.randint(3, 40),
            temperature=rng.choice([0.0, 0.9]),
            seed=seed * 100 + i,
        )
        for i in range(n)
    ]


def test_outputs_equal_the_contiguous_cache_even_when_preempted(model64, tokenizer):
    seqs = workload(tokenizer, 12, seed=3)
    kv = paged(
        model64, blocks=24
    )  # 96 slots for up to 6 sequences of up to 52: preemption
    scheduler = Scheduler(model64, tokenizer, kv, max_num_seqs=6)
    run_all(scheduler, seqs)
    assert scheduler.stats.preemptions > 0, "the cache was sized to force preemption"
    for seq in seqs:
        alone = generate_one(model64, tokenizer, seq.prompt, seq.params)
        assert seq.output_ids == alone.token_ids, (
            f"{seq.prompt!r} (preempted {seq.preemptions}x): "
            f"{tokenizer.decode(seq.output_ids)!r} != {alone.text!r}"
        )
    assert kv.allocator.num_free == 24 and not kv.tables, (
        "every block is free at the end"
    )


def test_the_newest_sequence_is_preempted(served, tokenizer):
    model = served.model
    kv = paged(model, blocks=6)  # 24 slots
    scheduler = Scheduler(model, tokenizer, kv, max_num_seqs=3)
    a, b, c = (
        make_seq(tokenizer, p, max_tokens=20, temperature=0)
        for p in ("abcdefgh", "abcdefgh", "abcdefgh")
    )
    for seq in (a, b, c):
        scheduler.add(seq)
    scheduler.step()  # each prefills 8 positions into 2 blocks: all 6 blocks used
    assert kv.allocator.num_free == 0 and all(s.status == "running" for s in (a, b, c))
    scheduler.step()  # a needs a third block: c, the newest, must give its blocks up
    assert (a.preemptions, b.preemptions, c.preemptions) == (0, 0, 1)
    assert c.status == "waiting" and scheduler.waiting[0] is c and c.num_cached == 0
    assert len(kv.tables[a.seq_id]) == 3 and c.seq_id not in kv.tables


def test_a_prompt_is_admitted_only_when_all_its_blocks_fit(served, tokenizer):
    model = served.model
    kv = paged(model, blocks=5)
    scheduler = Scheduler(model, tokenizer, kv, max_num_seqs=4)
    first = make_seq(tokenizer, "0123456789", max_tokens=3, temperature=0)  # 3 blocks
    second = make_seq(tokenizer, "abcdefghi", max_tokens=3, temperature=0)  # 3 blocks
    scheduler.add(first)
    scheduler.add(second)
    scheduler.step()
    assert first.status == "running" and second.status == "waiting", (
        "the second prompt needs 3 blocks and only 2 are free: it must wait, not start "
        "and be preempted"
    )
    assert scheduler.stats.preemptions == 0
    run_all(scheduler, [])
    assert second.finish_reason == "length" and kv.allocator.num_free == 5


def test_shared_prefixes_map_the_same_blocks(model64, tokenizer):
    prompt = "The value of an expression is "  # 30 characters: 7 full blocks and 2 more
    kv = paged(model64, blocks=40)
    scheduler = Scheduler(model64, tokenizer, kv, max_num_seqs=4, prefix_sharing=True)
    a = make_seq(tokenizer, prompt, max_tokens=12, temperature=0.9, seed=1)
    b = make_seq(tokenizer, prompt, max_tokens=12, temperature=0.9, seed=2)
    scheduler.add(a)
    scheduler.step()  # a prefills
    scheduler.add(b)
    scheduler.step()  # b maps a's first 29 positions and computes only its last token
    assert kv.tables[b.seq_id][:7] == kv.tables[a.seq_id][:7], "7 full blocks shared"
    assert scheduler.stats.shared_tokens == 29
    assert scheduler.stats.prefill_tokens == 30, "b computed none of the shared prefix"
    assert kv.tables[b.seq_id][7] != kv.tables[a.seq_id][7] and kv.cow_copies == 1, (
        "the half-full shared block is copied before b writes its position 29 into it"
    )
    run_all(scheduler, [])
    for seq in (a, b):
        alone = generate_one(model64, tokenizer, seq.prompt, seq.params)
        assert seq.output_ids == alone.token_ids
    assert kv.allocator.num_free == 40


def test_paged_waste_stays_under_a_block_per_sequence(served, tokenizer):
    model = served.model
    kv = paged(model, blocks=64, block_size=8)
    scheduler = Scheduler(model, tokenizer, kv, max_num_seqs=8)
    for seq in workload(tokenizer, 16, seed=5):
        scheduler.add(seq)
    checked = 0
    while scheduler.has_work:
        scheduler.step()
        running = len(scheduler.running)
        wasted = kv.reserved_tokens - kv.used_tokens
        assert 0 <= wasted < 8 * max(running, 1), (wasted, running)
        assert kv.reserved_tokens == 8 * sum(
            math.ceil(n / 8) for n in kv.lengths.values()
        )
        checked += 1
    assert checked > 20

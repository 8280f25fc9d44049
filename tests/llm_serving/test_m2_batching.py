"""m2 — continuous batching: masks, the batched forward pass, the iteration-level scheduler.

Oracles: brute-force masks from nested loops; lab 7's own forward pass over
each whole sequence (the batched logits must equal it to float64 noise);
each request served alone (``generate_one``), token for token, whatever
shares its batches; and exact step-by-step schedules.
"""

from __future__ import annotations

import random

import pytest
import torch

from labs.llm_serving import (
    ContiguousKV,
    SamplingParams,
    Scheduler,
    Sequence,
    attention_masks,
    forward_batch,
    generate_one,
    logits_alone,
    make_generator,
    next_seq_id,
    sample_token,
    token_logprob,
)
from labs.llm_serving.sampling import sample_batch

PROMPTS = [
    "def f(x):",
    "The ",
    "An object is",
    "class A:\n    pass",
    "import os",
    "x = 1",
    "for i in range(10):",
    "Return the value of",
    "y",
    "It is an error if",
]


def make_seq(tok, prompt, **params):
    ids = tok.encode(prompt).tolist()
    return Sequence.create(next_seq_id(), prompt, ids, SamplingParams(**params))


def drain(scheduler, limit=2000):
    steps = 0
    while scheduler.has_work:
        scheduler.step()
        steps += 1
        assert steps < limit, "the scheduler never finished its sequences"
    return steps


def test_masks_match_a_brute_force_loop():
    rng = random.Random(0)
    for _ in range(50):
        B = rng.randint(1, 5)
        past = [rng.randint(0, 12) for _ in range(B)]
        new = [rng.randint(1, 6) for _ in range(B)]
        width = max(p + n for p, n in zip(past, new, strict=True)) + rng.randint(0, 3)
        positions, valid, allowed = attention_masks(
            torch.tensor(past), torch.tensor(new), width
        )
        T = max(new)
        assert positions.shape == (B, T) and valid.shape == (B, T)
        assert allowed.shape == (B, T, width)
        for b in range(B):
            for t in range(T):
                assert positions[b, t] == past[b] + t
                assert bool(valid[b, t]) == (t < new[b])
                for j in range(width):
                    expected = j <= past[b] + t and j < past[b] + new[b]
                    assert bool(allowed[b, t, j]) == expected, (b, t, j)


def test_batched_logits_equal_each_sequence_alone(model64, tokenizer):
    """Prefill several prompts of different lengths together, then decode them with a newcomer."""
    rng = random.Random(1)
    kv = ContiguousKV.for_model(model64, capacity_tokens=10 * model64.config.block_size)
    seqs = {i: tokenizer.encode(p).tolist() for i, p in enumerate(PROMPTS[:4])}
    for i, tokens in seqs.items():
        assert kv.reserve(i, len(tokens))
    logits = forward_batch(model64, kv, list(seqs), [0] * 4, list(seqs.values()))
    for row, tokens in zip(logits, seqs.values(), strict=True):
        torch.testing.assert_close(
            row, logits_alone(model64, tokens), atol=1e-9, rtol=0
        )
    for _ in range(5):  # decode steps: one new token each, plus a prompt joining
        joining = len(seqs)
        seqs[joining] = tokenizer.encode(PROMPTS[joining]).tolist()
        past = {i: (0 if i == joining else len(t)) for i, t in seqs.items()}
        new = {}
        for i, tokens in seqs.items():
            new[i] = tokens if i == joining else [rng.randrange(tokenizer.vocab_size)]
            seqs[i] = tokens + new[i] if i != joining else tokens
            assert kv.reserve(i, len(seqs[i]))
        ids = list(seqs)
        logits = forward_batch(
            model64, kv, ids, [past[i] for i in ids], [new[i] for i in ids]
        )
        for i, row in zip(ids, logits, strict=True):
            torch.testing.assert_close(
                row, logits_alone(model64, seqs[i]), atol=1e-9, rtol=0
            )


def test_every_answer_equals_its_answer_alone(model64, tokenizer):
    """Greedy and seeded sampling, requests joining at different steps: nothing leaks between them."""
    rng = random.Random(2)
    kv = ContiguousKV.for_model(model64, capacity_tokens=4 * model64.config.block_size)
    scheduler = Scheduler(model64, tokenizer, kv, max_num_seqs=3)
    seqs = []
    for i, prompt in enumerate(PROMPTS):
        params = {
            "max_tokens": rng.randint(3, 50),
            "temperature": 0.0 if i % 2 else 0.9,
        }
        params["seed"] = 100 + i
        seqs.append(make_seq(tokenizer, prompt, **params))
    pending = list(seqs)
    steps = 0
    while pending or scheduler.has_work:
        for _ in range(rng.randint(0, 2)):
            if pending:
                scheduler.add(pending.pop(0))
        scheduler.step()
        steps += 1
        assert steps < 2000
    for seq in seqs:
        alone = generate_one(model64, tokenizer, seq.prompt, seq.params)
        assert seq.output_ids == alone.token_ids, (
            f"{seq.prompt!r}: batched {tokenizer.decode(seq.output_ids)!r} but alone "
            f"{alone.text!r}; a padded key, a wrong position or a shared generator leaks"
        )
        torch.testing.assert_close(
            torch.tensor(seq.logprobs), torch.tensor(alone.logprobs), atol=1e-9, rtol=0
        )
        assert seq.finish_reason == "length"


def test_a_finished_sequence_frees_its_place_at_the_next_step(served, tokenizer):
    """max_num_seqs=2: C starts the step after A finishes, while B is still running."""
    model = served.model
    kv = ContiguousKV.for_model(model, capacity_tokens=2 * model.config.block_size)
    scheduler = Scheduler(model, tokenizer, kv, max_num_seqs=2)
    a = make_seq(tokenizer, "The ", max_tokens=3, temperature=0)
    b = make_seq(tokenizer, "x = ", max_tokens=12, temperature=0)
    c = make_seq(tokenizer, "def ", max_tokens=2, temperature=0)
    for seq in (a, b, c):
        scheduler.add(seq)
    trace = []
    for _ in range(20):
        if not scheduler.has_work:
            break
        trace.append(sorted(e.seq_id for e in scheduler.step()))
    ids = {a.seq_id: "A", b.seq_id: "B", c.seq_id: "C"}
    named = ["".join(sorted(ids[i] for i in step)) for step in trace]
    assert named == ["AB", "AB", "AB", "BC", "BC"] + ["B"] * 7, (
        f"continuous batching admits C as soon as A leaves; the steps ran {named}"
    )
    assert kv.free_sequences == 2 and not kv.lengths, "every slot is free at the end"


def test_the_queue_is_first_come_first_served(served, tokenizer):
    model = served.model
    kv = ContiguousKV.for_model(model, capacity_tokens=model.config.block_size)
    scheduler = Scheduler(model, tokenizer, kv, max_num_seqs=4)
    seqs = [make_seq(tokenizer, p, max_tokens=2, temperature=0) for p in PROMPTS[:4]]
    for seq in seqs:
        scheduler.add(seq)
    drain(scheduler)
    finished = sorted(seqs, key=lambda s: s.finished_at)
    assert [s.seq_id for s in finished] == [s.seq_id for s in seqs]


@pytest.mark.given
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batched_sampling_draws_what_each_row_would_alone(dtype):
    """The scheduler samples a whole batch at once: the same tokens as sample_token, row by row."""
    torch.manual_seed(0)
    mixes = [
        [{"temperature": 0.8}] * 5,  # the usual batch: one temperature
        [{"temperature": 0.0}, {"temperature": 1.3}, {"temperature": 0.5}],
        [{"temperature": 0.9, "top_k": 5}, {"temperature": 1.0, "top_p": 0.8}],
        [{"temperature": 0.0}] * 2,
    ]
    for mix in mixes:
        params = [SamplingParams(seed=40 + b, **p) for b, p in enumerate(mix)]
        alone = [make_generator(p.seed, "cpu") for p in params]
        batched = [make_generator(p.seed, "cpu") for p in params]
        for _ in range(20):
            logits = (3 * torch.randn(len(params), 12)).to(dtype)  # (B, V)
            tokens, logprobs = sample_batch(logits, params, batched)
            expected = [
                sample_token(row, p, g)
                for row, p, g in zip(logits, params, alone, strict=True)
            ]
            assert tokens == expected, f"{mix}: batched {tokens}, alone {expected}"
            assert logprobs == pytest.approx(
                [token_logprob(row, t) for row, t in zip(logits, tokens, strict=True)],
                abs=1e-12,
            )


@pytest.mark.given
def test_static_batching_gives_the_same_answers(model64, tokenizer):
    kv = ContiguousKV.for_model(model64, capacity_tokens=4 * model64.config.block_size)
    scheduler = Scheduler(
        model64,
        tokenizer,
        kv,
        policy="static",
        max_num_seqs=4,
        batch_wait_timeout_s=0.0,
    )
    seqs = [
        make_seq(tokenizer, p, max_tokens=5 + 3 * i, temperature=0)
        for i, p in enumerate(PROMPTS[:6])
    ]
    for seq in seqs:
        scheduler.add(seq)
    steps = drain(scheduler)
    assert steps == (5 + 3 * 3) + (5 + 3 * 5), (
        "two batches, each as long as its longest"
    )
    for seq in seqs:
        assert (
            seq.output_ids
            == generate_one(model64, tokenizer, seq.prompt, seq.params).token_ids
        )

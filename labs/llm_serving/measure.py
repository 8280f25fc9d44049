"""In-process measurements shared by ``run.py`` and ``bench.py``.

- :func:`prefill_decode_costs`: a prompt's prefill, per token, against one
  decode step (m1);
- :func:`decode_cost_by_batch`: one decode step's time as the batch grows,
  the shape that makes batching pay (m2);
- :func:`engine_run`: a whole workload through the scheduler, no HTTP:
  tokens/s, steps, preemptions, and the KV memory reserved against used,
  averaged over every step (m2, m3).

Timings are medians of repeats, with the variants interleaved, so a burst
of load on the machine hits every variant alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence as Seq
from typing import Any

import torch

from labs.llm_serving.engine import decode_step, prefill
from labs.llm_serving.kv_store import ContiguousKV, KVStore
from labs.llm_serving.paged_cache import PagedKVCache
from labs.llm_serving.sampling import SamplingParams
from labs.llm_serving.scheduler import Scheduler
from labs.llm_serving.sequence import Sequence, next_seq_id
from labs.transformer.corpus import CharTokenizer
from labs.transformer.kv_cache import KVCache
from labs.transformer.model import GPT

MODES = ("static", "continuous", "paged")


def prefill_decode_costs(
    model: GPT, prompt_len: int, *, decode_steps: int = 32, repeats: int = 5
) -> dict[str, float]:
    """Milliseconds per prompt token in prefill, and per decode step, for one sequence."""
    prompt = torch.randint(0, model.config.vocab_size, (prompt_len,))
    prefills, decodes = [], []
    for _ in range(repeats):
        cache = KVCache.for_model(model, batch=1, max_len=prompt_len + decode_steps)
        start = time.perf_counter()
        prefill(model, prompt, cache)
        prefills.append((time.perf_counter() - start) / prompt_len)
        start = time.perf_counter()
        for step in range(decode_steps):
            decode_step(model, step % model.config.vocab_size, cache)
        decodes.append((time.perf_counter() - start) / decode_steps)
    per_token = statistics.median(prefills) * 1e3
    per_step = statistics.median(decodes) * 1e3
    return {
        "prompt_len": prompt_len,
        "prefill_ms_per_token": per_token,
        "decode_ms_per_step": per_step,
        "decode_over_prefill": per_step / per_token,
    }


def decode_cost_by_batch(
    model: GPT,
    tokenizer: CharTokenizer,
    batch_sizes: Seq[int],
    *,
    context: int = 64,
    repeats: int = 5,
) -> dict[int, float]:
    """Milliseconds for one decode step of ``b`` sequences of ``context`` positions each."""
    costs: dict[int, list[float]] = {b: [] for b in batch_sizes}
    largest = max(batch_sizes)
    kv = PagedKVCache.for_model(
        model, capacity_tokens=largest * (context + 16), block_size=16
    )
    scheduler = Scheduler(model, tokenizer, kv, max_num_seqs=largest)
    seqs = []
    for _ in range(largest):
        ids = torch.randint(0, tokenizer.vocab_size, (context,)).tolist()
        params = SamplingParams(
            max_tokens=model.config.block_size - context, temperature=0
        )
        seqs.append(Sequence.create(next_seq_id(), "", ids, params))
        scheduler.add(seqs[-1])
    scheduler.step()  # everyone prefilled; now every step is a pure decode
    from labs.llm_serving.batch_forward import forward_batch

    for _ in range(repeats):
        for b in batch_sizes:
            group = seqs[:b]
            start = time.perf_counter()
            forward_batch(
                model,
                kv,
                [s.seq_id for s in group],
                [s.num_cached - 1 for s in group],  # re-feed the last cached token
                [[s.tokens[s.num_cached - 1]] for s in group],
            )
            costs[b].append(time.perf_counter() - start)
    return {b: statistics.median(v) * 1e3 for b, v in costs.items()}


def make_kv(
    model: GPT, mode: str, capacity_tokens: int, block_size: int = 16
) -> KVStore:
    if mode == "paged":
        return PagedKVCache.for_model(
            model, capacity_tokens=capacity_tokens, block_size=block_size
        )
    return ContiguousKV.for_model(model, capacity_tokens=capacity_tokens)


def engine_run(
    model: GPT,
    tokenizer: CharTokenizer,
    bodies: Seq[dict[str, Any]],
    *,
    mode: str,
    capacity_tokens: int,
    max_num_seqs: int = 32,
    block_size: int = 16,
) -> dict[str, Any]:
    """Every request queued at once, served to the end in process; what it cost."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    kv = make_kv(model, mode, capacity_tokens, block_size)
    policy = "static" if mode == "static" else "continuous"
    scheduler = Scheduler(
        model,
        tokenizer,
        kv,
        policy=policy,
        max_num_seqs=max_num_seqs,
        batch_wait_timeout_s=0.0,
    )
    for body in bodies:
        params = SamplingParams(
            max_tokens=body["max_tokens"],
            temperature=body["temperature"],
            seed=body["seed"],
        )
        ids = tokenizer.encode(body["prompt"]).tolist()
        scheduler.add(Sequence.create(next_seq_id(), body["prompt"], ids, params))
    start = time.perf_counter()
    while scheduler.has_work:
        scheduler.step()
    elapsed = time.perf_counter() - start
    stats = scheduler.stats
    reserved = stats.reserved_token_steps / max(stats.steps, 1)
    used = stats.used_token_steps / max(stats.steps, 1)
    prompt_tokens = sum(len(b["prompt"]) for b in bodies)
    return {
        "mode": mode,
        "seconds": elapsed,
        "tokens_per_s": stats.generated / elapsed,
        "steps": stats.steps,
        "mean_batch": stats.batch_seqs / max(stats.steps, 1),
        "preemptions": stats.preemptions,
        "recomputed_tokens": stats.prefill_tokens - prompt_tokens,
        "computed_tokens": stats.prefill_tokens + stats.decode_tokens,
        "reserved_tokens": reserved,
        "used_tokens": used,
        "waste": 1.0 - used / reserved if reserved else 0.0,
    }

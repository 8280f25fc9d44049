"""``labkit bench transformer --json``: validation loss against the bigram, KV-cache speed.

Figures:

- ``val_loss``, ``bigram_val_loss``: nats per character on the validation text;
- ``kv_cache_speedup``: greedy generation of 256 tokens, time without the
  cache over time with it (median of 3 alternating runs);
- ``tokens_per_s``: cached greedy generation at 256 tokens, batch 1;
- ``kv_cache_speedup_by_tokens``, ``train_tokens_per_s``, and whether the
  greedy outputs were identical.
"""

from __future__ import annotations

from common.results import Results
from labs.transformer.measure import (
    TORCH_THREADS,
    fit_char_lm,
    get_preset,
    time_generation,
    torch_threads,
)
from labs.transformer.model import parameter_count

BENCH_TOKENS = 256


def bench(results: Results, *, preset: str = "small") -> None:
    """Train the preset's model, then time generation at 64, 128 and 256 tokens."""
    get_preset(preset)
    with torch_threads():
        lm = fit_char_lm(preset)
        speed = time_generation(lm.model, (64, 128, BENCH_TOKENS))
    at_bench = next(r for r in speed if r["tokens"] == BENCH_TOKENS)
    results.add("val_loss", lm.val_loss)
    results.add("bigram_val_loss", lm.bigram_val_loss)
    results.add("kv_cache_speedup", at_bench["speedup"])
    results.add("tokens_per_s", at_bench["cache_tokens_per_s"])
    results.add("tokens_per_s_no_cache", at_bench["no_cache_tokens_per_s"])
    results.add(
        "kv_cache_speedup_by_tokens", {str(r["tokens"]): r["speedup"] for r in speed}
    )
    results.add("kv_cache_outputs_identical", all(r["identical"] for r in speed))
    results.add("train_tokens_per_s", lm.history.tokens_per_s)
    results.add("train_steps", lm.history.steps[-1])
    results.add("parameters", parameter_count(lm.model.config))
    results.add("preset", preset)
    results.add("torch_threads", TORCH_THREADS)
    results.text(
        f"Preset `{preset}`, {lm.source}. Validation loss {lm.val_loss:.3f} against the "
        f"bigram's {lm.bigram_val_loss:.3f} nats/char; the KV cache generates "
        f"{BENCH_TOKENS} tokens {at_bench['speedup']:.1f}× faster "
        f"({at_bench['cache_tokens_per_s']:,.0f} tokens/s)."
    )
    results.table(
        speed, title="Greedy generation from a one-token prompt (medians of 3)"
    )

"""The lab's measurements, shared by ``run.py`` and ``bench.py``.

- :func:`fit_char_lm` trains the character GPT on the corpus for a preset and
  measures the bigram baseline on the same validation text;
- :func:`time_generation` times greedy generation with and without the KV
  cache at several lengths and checks the tokens are identical;
- :func:`kv_memory_rows` compares the KV-cache formula with the bytes of the
  cache's tensors.

Run it through the harness: ``labkit run transformer`` or
``labkit bench transformer --json``.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from labs.transformer.bigram import bigram_loss, fit_bigram
from labs.transformer.corpus import (
    CharTokenizer,
    corpus_source,
    get_batch,
    load_corpus,
    train_val_split,
)
from labs.transformer.generate import generate
from labs.transformer.kv_cache import KVCache, kv_cache_bytes
from labs.transformer.model import GPT, GPTConfig, parameter_count
from labs.transformer.train import TrainConfig, TrainHistory, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int  # the context window; the KV-cache bench needs 256
    train: TrainConfig


PRESETS = {
    # a smoke run: seconds, not expected to get far past the bigram
    "tiny": Preset(
        n_layer=2,
        n_head=4,
        n_embd=64,
        block_size=256,
        train=TrainConfig(
            steps=60, batch_size=8, block_size=256, learning_rate=1e-2, eval_every=20
        ),
    ),
    # the default: about three minutes on one core
    "small": Preset(
        n_layer=2,
        n_head=4,
        n_embd=96,
        block_size=256,
        train=TrainConfig(
            steps=400,
            batch_size=16,
            block_size=256,
            learning_rate=1e-2,
            warmup_steps=30,
            eval_every=50,
        ),
    ),
    # a longer run for a better sample (tens of minutes)
    "large": Preset(
        n_layer=4,
        n_head=4,
        n_embd=128,
        block_size=256,
        train=TrainConfig(
            steps=2000,
            batch_size=16,
            block_size=256,
            learning_rate=6e-3,
            warmup_steps=100,
            eval_every=100,
        ),
    ),
}

SEED = 0
TORCH_THREADS = 1  # tiny tensors: a second OpenMP thread costs more than it saves


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name]


@contextmanager
def torch_threads(n: int = TORCH_THREADS) -> Iterator[None]:
    """Run torch on ``n`` threads, restoring the previous setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class CharLMRun:
    """A trained model and what its training measured."""

    model: GPT
    tokenizer: CharTokenizer
    history: TrainHistory
    source: str  # where the text came from
    corpus_chars: int
    train_chars: int
    val_chars: int
    init_loss: float  # loss of the untrained model on one batch
    bigram_val_loss: float
    bigram_train_loss: float  # the same model on its own training text
    val_loss: float


def fit_char_lm(preset: str) -> CharLMRun:
    """Train the character GPT of ``preset`` on the corpus; measure the bigram too."""
    spec = get_preset(preset)
    text = load_corpus()
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = train_val_split(tokenizer.encode(text))
    table = fit_bigram(train_ids, tokenizer.vocab_size)
    bigram = bigram_loss(table, val_ids)
    log.info(
        "corpus: %d chars, vocab %d; bigram val loss %.3f",
        len(text),
        tokenizer.vocab_size,
        bigram,
    )

    torch.manual_seed(SEED)
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=spec.block_size,
        n_layer=spec.n_layer,
        n_head=spec.n_head,
        n_embd=spec.n_embd,
    )
    model = GPT(config)
    x, y = get_batch(
        train_ids, 16, spec.train.block_size, torch.Generator().manual_seed(SEED)
    )
    with torch.no_grad():
        init_loss = float(model(x, y)[1])
    log.info(
        "model: %d parameters; loss at init %.3f (ln V = %.3f)",
        parameter_count(config),
        init_loss,
        math.log(tokenizer.vocab_size),
    )

    def report(step: int, train_loss: float, val_loss: float | None) -> None:
        log.info(
            "step %5d  train %.3f  val %.3f", step, train_loss, val_loss or float("nan")
        )

    history = train(model, train_ids, val_ids, spec.train, on_eval=report)
    model.eval()
    return CharLMRun(
        model=model,
        tokenizer=tokenizer,
        history=history,
        source=corpus_source(),
        corpus_chars=len(text),
        train_chars=len(train_ids),
        val_chars=len(val_ids),
        init_loss=init_loss,
        bigram_val_loss=bigram,
        bigram_train_loss=bigram_loss(table, train_ids),
        val_loss=history.val_loss[-1],
    )


def time_generation(
    model: GPT,
    lengths: tuple[int, ...] = (64, 128, 256),
    *,
    repeats: int = 3,
    prompt_id: int = 0,
) -> list[dict[str, float | int | bool]]:
    """Greedy generation of ``n`` tokens from a one-token prompt, with and without the cache.

    The two variants alternate within each repeat so a burst of load on the
    machine hits both; the row holds the medians.
    """
    rows: list[dict[str, float | int | bool]] = []
    prompt = torch.full((1, 1), prompt_id, dtype=torch.long)
    for n in lengths:
        timings: dict[bool, list[float]] = {True: [], False: []}
        outputs: dict[bool, torch.Tensor] = {}
        generate(model, prompt, min(n, 8), temperature=0.0)  # warm up
        for _ in range(repeats):
            for use_cache in (True, False):
                start = time.perf_counter()
                outputs[use_cache] = generate(
                    model, prompt, n, temperature=0.0, use_cache=use_cache
                )
                timings[use_cache].append(time.perf_counter() - start)
        cached, uncached = (
            statistics.median(timings[True]),
            statistics.median(timings[False]),
        )
        rows.append(
            {
                "tokens": n,
                "no_cache_s": uncached,
                "cache_s": cached,
                "speedup": uncached / cached,
                "cache_tokens_per_s": n / cached,
                "no_cache_tokens_per_s": n / uncached,
                "identical": bool(torch.equal(outputs[True], outputs[False])),
            }
        )
        log.info("generate %d tokens: %.3fs no cache, %.3fs cache", n, uncached, cached)
    return rows


def kv_memory_rows(
    model: GPT,
    lengths: tuple[int, ...] = (64, 128, 256),
    batches: tuple[int, ...] = (1, 8),
) -> list[dict[str, int | bool]]:
    """Formula bytes vs the bytes of a real cache's K and V tensors."""
    config = model.config
    rows: list[dict[str, int | bool]] = []
    for batch in batches:
        for n in lengths:
            cache = KVCache.for_model(model, batch=batch, max_len=n)
            formula = kv_cache_bytes(
                n_layer=config.n_layer,
                n_kv_head=config.n_head,
                head_size=config.head_size,
                seq_len=n,
                batch=batch,
                bytes_per_element=model.wte.weight.element_size(),
            )
            rows.append(
                {
                    "batch": batch,
                    "seq_len": n,
                    "formula_bytes": formula,
                    "measured_bytes": cache.nbytes,
                    "equal": formula == cache.nbytes,
                }
            )
    return rows


# Published architectures, for what the formula says at real scale (fp16, one sequence).
REFERENCE_MODELS = (
    # name, layers, KV heads, head size, context
    ("GPT-2 small", 12, 12, 64, 1024),
    ("Llama-2-7B (MHA)", 32, 32, 128, 4096),
    ("Llama-2-70B (GQA, 8 KV heads)", 80, 8, 128, 4096),
)


def reference_kv_rows() -> list[dict[str, int | float | str]]:
    """KV-cache size of published models by the formula (not measured here)."""
    rows: list[dict[str, int | float | str]] = []
    for name, layers, kv_heads, head_size, context in REFERENCE_MODELS:
        size = kv_cache_bytes(
            n_layer=layers,
            n_kv_head=kv_heads,
            head_size=head_size,
            seq_len=context,
            bytes_per_element=2,
        )
        rows.append(
            {
                "model": name,
                "layers": layers,
                "kv_heads": kv_heads,
                "head_size": head_size,
                "context": context,
                "MiB_per_sequence": size / 2**20,
                "KiB_per_token": size / context / 2**10,
            }
        )
    return rows

"""Lab 7 `transformer`: attention, a GPT block, a character LM and KV-cache generation.

The public API, milestone by milestone:

- m1 ``attention``: :func:`causal_mask`, :func:`attention_weights`,
  :func:`scaled_dot_product_attention`;
- m2 ``layers``/``model``: :class:`LayerNorm`, :class:`MultiHeadAttention`,
  :class:`MLP`, :class:`Block`, :class:`GPT`, :func:`parameter_count`;
- m3 ``corpus``/``bigram``/``train``: :func:`load_corpus`, :class:`CharTokenizer`,
  :func:`get_batch`, :func:`fit_bigram`, :func:`bigram_loss`, :func:`train`;
- m4 ``kv_cache``/``generate``: :class:`KVCache`, :func:`kv_cache_bytes`,
  :func:`sample_next`, :func:`generate`.

The brief is ``README.md``; ``labkit run transformer`` trains and measures.
"""

from labs.transformer.attention import (
    attention_entropy,
    attention_weights,
    causal_mask,
    scaled_dot_product_attention,
)
from labs.transformer.bigram import bigram_loss, fit_bigram
from labs.transformer.corpus import (
    CharTokenizer,
    get_batch,
    load_corpus,
    train_val_split,
)
from labs.transformer.generate import generate, sample_next
from labs.transformer.kv_cache import KVCache, LayerKVCache, kv_cache_bytes
from labs.transformer.layers import MLP, Block, LayerNorm, MultiHeadAttention
from labs.transformer.model import GPT, GPTConfig, parameter_count
from labs.transformer.train import (
    TrainConfig,
    TrainHistory,
    evaluate,
    train,
    train_step,
)

__all__ = [
    "GPT",
    "MLP",
    "Block",
    "CharTokenizer",
    "GPTConfig",
    "KVCache",
    "LayerKVCache",
    "LayerNorm",
    "MultiHeadAttention",
    "TrainConfig",
    "TrainHistory",
    "attention_entropy",
    "attention_weights",
    "bigram_loss",
    "causal_mask",
    "evaluate",
    "fit_bigram",
    "generate",
    "get_batch",
    "kv_cache_bytes",
    "load_corpus",
    "parameter_count",
    "sample_next",
    "scaled_dot_product_attention",
    "train",
    "train_step",
    "train_val_split",
]

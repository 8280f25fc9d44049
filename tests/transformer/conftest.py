"""Fixtures for the transformer lab: the corpus once per session, tiny model configs.

The lab's tensors are tiny, so its tests run torch on one thread: with two,
every small op pays for waking a second OpenMP thread, and on a busy machine
(CI, other tests in parallel) that wait can cost milliseconds per op.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch

from labs.transformer.corpus import (
    CharTokenizer,
    load_corpus,
    train_val_split,
)
from labs.transformer.model import GPTConfig


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class Corpus:
    text: str
    tokenizer: CharTokenizer
    train_ids: torch.Tensor
    val_ids: torch.Tensor


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    text = load_corpus()
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = train_val_split(tokenizer.encode(text))
    return Corpus(text, tokenizer, train_ids, val_ids)


@pytest.fixture
def tiny_config() -> GPTConfig:
    """A model small enough that a forward pass takes about a millisecond."""
    return GPTConfig(vocab_size=17, block_size=32, n_layer=2, n_head=4, n_embd=32)

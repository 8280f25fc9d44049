"""m3: batches, the bigram baseline, the language-model loss, training.

Oracles: brute-force counting for the bigram, ``F.cross_entropy`` and
``ln V`` for the loss at initialisation, and the bigram's own validation
loss as the bar a short training run must clear.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from labs.transformer.bigram import bigram_loss, fit_bigram
from labs.transformer.corpus import get_batch
from labs.transformer.model import GPT, GPTConfig
from labs.transformer.train import (
    TrainConfig,
    evaluate,
    make_optimizer,
    train,
    train_step,
)


@given(seed=st.integers(0, 2**16), B=st.integers(1, 8), T=st.integers(1, 20))
def test_batches_are_windows_and_targets_are_shifted_by_one(seed, B, T):
    ids = torch.arange(100, 100 + T + 30)  # each token names its own position
    x, y = get_batch(ids, B, T, torch.Generator().manual_seed(seed))
    assert x.shape == y.shape == (B, T)
    starts = x[:, 0] - 100
    for b in range(B):
        s = int(starts[b])
        assert 0 <= s <= len(ids) - T - 1
        assert torch.equal(x[b], ids[s : s + T]), f"x[{b}] is not a window of ids"
        assert torch.equal(y[b], ids[s + 1 : s + T + 1]), (
            f"y[{b}] is not x[{b}]'s window shifted one token to the right"
        )


def test_batches_cover_the_whole_text():
    ids = torch.arange(50)
    x, _ = get_batch(ids, 2000, 8, torch.Generator().manual_seed(0))
    missing = set(range(50 - 8)) - set(x[:, 0].tolist())
    extra = set(x[:, 0].tolist()) - set(range(50 - 8))
    assert not missing and not extra, (
        f"2,000 windows of 8 over 50 tokens should start at every s in [0, 42): "
        f"never started at {sorted(missing)}, started out of range at {sorted(extra)}"
    )


@given(
    ids=st.lists(st.integers(0, 5), min_size=2, max_size=60),
    alpha=st.sampled_from([0.01, 0.5, 1.0, 3.0]),
)
def test_bigram_matches_brute_force_counts(ids, alpha):
    V = 6
    log_probs = fit_bigram(torch.tensor(ids), V, alpha)
    assert log_probs.shape == (V, V)
    pairs = Counter(itertools.pairwise(ids))
    firsts = Counter(ids[:-1])
    for a in range(V):
        for b in range(V):
            expected = (pairs[a, b] + alpha) / (firsts[a] + alpha * V)
            assert math.exp(log_probs[a, b]) == pytest.approx(expected, rel=1e-9)
    nll = -sum(
        math.log((pairs[a, b] + alpha) / (firsts[a] + alpha * V))
        for a, b in itertools.pairwise(ids)
    )
    assert bigram_loss(log_probs, torch.tensor(ids)) == pytest.approx(
        nll / (len(ids) - 1)
    )


def test_bigram_beats_uniform_and_unigram_on_the_corpus(corpus):
    V = corpus.tokenizer.vocab_size
    val = bigram_loss(fit_bigram(corpus.train_ids, V), corpus.val_ids)
    counts = torch.bincount(corpus.train_ids, minlength=V).double() + 1
    unigram = float(-torch.log(counts / counts.sum())[corpus.val_ids].mean())
    assert val < unigram < math.log(V)
    assert 1.5 < val < 3.0  # English-like text: a bit over 2 nats per character


def test_loss_at_init_is_log_vocab_size(corpus):
    V = corpus.tokenizer.vocab_size
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=2, n_embd=32))
    x, y = get_batch(corpus.train_ids, 8, 32, torch.Generator().manual_seed(0))
    logits, loss = model(x, y)
    assert logits.shape == (8, 32, V)
    # small initial weights: near-uniform guesses, loss ≈ ln V (a check to run first)
    assert loss.item() == pytest.approx(math.log(V), abs=0.1)
    torch.testing.assert_close(
        loss, F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    )
    assert model(x)[1] is None


def test_loss_ignores_targets_of_minus_one(tiny_config):
    torch.manual_seed(0)
    model = GPT(tiny_config)
    x = torch.randint(0, tiny_config.vocab_size, (2, 10))
    y = torch.randint(0, tiny_config.vocab_size, (2, 10))
    logits, _ = model(x)
    padded = y.clone()
    padded[:, 7:] = -1
    _, loss = model(x, padded)
    torch.testing.assert_close(
        loss,
        F.cross_entropy(
            logits[:, :7].reshape(-1, tiny_config.vocab_size), y[:, :7].reshape(-1)
        ),
    )


def test_model_is_causal(tiny_config):
    torch.manual_seed(0)
    model = GPT(tiny_config)
    x = torch.randint(0, tiny_config.vocab_size, (1, 12))
    changed = x.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % tiny_config.vocab_size
    torch.testing.assert_close(model(changed)[0][:, :8], model(x)[0][:, :8])


def test_train_step_reports_the_pre_clip_gradient_norm(tiny_config):
    torch.manual_seed(0)
    model = GPT(tiny_config)
    x = torch.randint(0, tiny_config.vocab_size, (4, 16))
    y = torch.randint(0, tiny_config.vocab_size, (4, 16))
    # oracle: the loss and the global gradient norm of a copy, by hand
    twin = GPT(tiny_config)
    twin.load_state_dict(model.state_dict())
    _, twin_loss = twin(x, y)
    twin_loss.backward()
    norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in twin.parameters()))
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = make_optimizer(model, TrainConfig(learning_rate=1e-3))
    loss, grad_norm = train_step(model, optimizer, x, y, grad_clip=1e-3)
    assert loss == pytest.approx(twin_loss.item(), rel=1e-5)
    assert grad_norm == pytest.approx(norm, rel=1e-4)
    assert any(
        not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)
    )


@pytest.mark.parametrize("grad_clip", [1e-3, 0.0])
def test_train_step_zeroes_backprops_clips_then_steps(tiny_config, grad_clip):
    # Oracle: a twin trained by hand with torch's own clip_grad_norm_, two steps
    # on two different batches, so gradients left from step 1 would show in step 2.
    torch.manual_seed(0)
    model = GPT(tiny_config).double()
    twin = GPT(tiny_config).double()
    twin.load_state_dict(model.state_dict())
    config = TrainConfig(learning_rate=1e-2)
    optimizer, twin_optimizer = (
        make_optimizer(model, config),
        make_optimizer(twin, config),
    )
    g = torch.Generator().manual_seed(1)
    for step in range(2):
        x = torch.randint(0, tiny_config.vocab_size, (4, 16), generator=g)
        y = torch.randint(0, tiny_config.vocab_size, (4, 16), generator=g)
        loss, grad_norm = train_step(model, optimizer, x, y, grad_clip=grad_clip)
        twin_optimizer.zero_grad()
        _, twin_loss = twin(x, y)
        twin_loss.backward()
        if grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(twin.parameters(), grad_clip)
        else:
            norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in twin.parameters()])
            )
        twin_optimizer.step()
        assert loss == pytest.approx(twin_loss.item(), rel=1e-9), f"step {step}"
        assert grad_norm == pytest.approx(norm.item(), rel=1e-9), (
            f"step {step}: the norm returned is not the global norm of this "
            "batch's gradients before clipping (were the old gradients zeroed?)"
        )
        for (name, p), q in zip(
            model.named_parameters(), twin.parameters(), strict=True
        ):
            torch.testing.assert_close(
                p, q, msg=lambda m, n=name, s=step: f"step {s}, {n}: {m}"
            )


class _ConcatLayerCache:
    """A KV cache by concatenation: enough to feed GPT.forward a prefix in m3."""

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.length = 0

    def append(self, k, v):
        self.k = k if self.k is None else torch.cat([self.k, k], dim=2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
        self.length += k.shape[2]
        return self.k, self.v


class _ConcatCache:
    def __init__(self, n_layer: int) -> None:
        self.layers = [_ConcatLayerCache() for _ in range(n_layer)]

    @property
    def length(self) -> int:
        return self.layers[0].length


def test_forward_with_a_cache_continues_at_the_cached_position(tiny_config):
    # With a cache, idx holds only the new tokens: they sit at positions
    # cache.length, ... (the given `pos`), and each block reads its own cache.
    torch.manual_seed(0)
    model = GPT(tiny_config).double().eval()
    idx = torch.randint(0, tiny_config.vocab_size, (2, 10))
    full, _ = model(idx)
    cache = _ConcatCache(tiny_config.n_layer)
    first, _ = model(idx[:, :6], cache=cache)
    rest, _ = model(idx[:, 6:], cache=cache)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), full)
    assert cache.length == 10


def test_overfits_one_batch_to_near_zero_loss(tiny_config):
    torch.manual_seed(0)
    model = GPT(tiny_config)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, tiny_config.vocab_size, (4, 16), generator=g)
    y = torch.randint(0, tiny_config.vocab_size, (4, 16), generator=g)
    optimizer = make_optimizer(model, TrainConfig(learning_rate=1e-2, weight_decay=0.0))
    first = None
    for _ in range(300):
        loss, _ = train_step(model, optimizer, x, y, grad_clip=1.0)
        first = first if first is not None else loss
        if loss < 0.05:
            break
    assert first > 2.5  # ≈ ln 17 at the start
    assert loss < 0.05, f"after 300 steps on one batch the loss is still {loss:.3f}"


def test_a_short_run_beats_the_bigram_baseline(corpus):
    V = corpus.tokenizer.vocab_size
    val = corpus.val_ids[:8001]  # the same held-out characters for both models
    bigram = bigram_loss(fit_bigram(corpus.train_ids, V), val)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=V, block_size=32, n_layer=1, n_head=4, n_embd=64))
    config = TrainConfig(
        steps=250,
        batch_size=32,
        block_size=32,
        learning_rate=1e-2,
        warmup_steps=20,
        eval_every=250,
    )
    history = train(model, corpus.train_ids, val, config)
    assert history.val_loss[-1] == pytest.approx(evaluate(model, val, 32))
    assert history.val_loss[-1] < bigram, (
        f"validation loss {history.val_loss[-1]:.3f} does not beat the bigram's {bigram:.3f}"
    )

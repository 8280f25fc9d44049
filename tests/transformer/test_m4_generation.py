"""m4: sampling with temperature and top-k, and KV-cache generation.

Oracles: ``argmax`` for greedy, the softmax for sampling frequencies, the
model without a cache for the cached logits and tokens, ``torch.cat`` for
the cache contents, and tensor ``nbytes`` for the memory formula.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from labs.transformer.generate import generate, sample_next
from labs.transformer.kv_cache import KVCache, LayerKVCache, kv_cache_bytes
from labs.transformer.model import GPT, GPTConfig


def _logits(seed: int, B: int, V: int, spread: float = 3.0) -> torch.Tensor:
    return torch.randn(B, V, generator=torch.Generator().manual_seed(seed)) * spread


@pytest.fixture
def model() -> GPT:
    """A random float64 model: cached and uncached runs agree to ~1e-15, so exact token
    equality is not at the mercy of float32 rounding on near-tied logits."""
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=23, block_size=48, n_layer=2, n_head=4, n_embd=32)
    return GPT(config).double().eval()


@given(seed=st.integers(0, 2**16), B=st.integers(1, 4), V=st.integers(2, 40))
def test_greedy_limits_equal_argmax(seed, B, V):
    logits = _logits(seed, B, V)
    greedy = logits.argmax(dim=-1, keepdim=True)
    g = torch.Generator().manual_seed(seed)
    assert torch.equal(sample_next(logits, temperature=0.0), greedy)
    assert torch.equal(sample_next(logits, temperature=1e-4, generator=g), greedy)
    assert torch.equal(sample_next(logits, top_k=1, generator=g), greedy)
    out = sample_next(logits, generator=g)
    assert out.shape == (B, 1) and out.dtype == torch.long


@given(
    logits=st.lists(st.floats(-30, 30, allow_nan=False), min_size=1, max_size=30),
    k=st.integers(1, 30),
    temperature=st.sampled_from([0.3, 1.0, 5.0]),
    seed=st.integers(0, 2**16),
)
def test_top_k_never_samples_outside_the_top_k(logits, k, temperature, seed):
    k = min(k, len(logits))
    row = torch.tensor([logits])  # (1, V)
    kth_largest = torch.sort(row, descending=True).values[0, k - 1]
    g = torch.Generator().manual_seed(seed)
    for _ in range(20):
        token = int(sample_next(row, temperature=temperature, top_k=k, generator=g))
        assert row[0, token] >= kth_largest, (token, logits, k)


def test_top_k_samples_at_most_k_distinct_tokens_even_with_ties():
    row = torch.zeros(1, 10)  # every logit tied
    g = torch.Generator().manual_seed(0)
    seen = {int(sample_next(row, top_k=3, generator=g)) for _ in range(300)}
    assert len(seen) == 3


@pytest.mark.parametrize(("temperature", "top_k"), [(1.0, None), (0.5, None), (2.0, 4)])
def test_sampling_frequencies_follow_the_tempered_softmax(temperature, top_k):
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -3.0]])
    n = 20_000
    g = torch.Generator().manual_seed(0)
    draws = sample_next(
        logits.expand(n, -1), temperature=temperature, top_k=top_k, generator=g
    )
    freq = torch.bincount(draws.view(-1), minlength=6).double() / n
    expected = logits[0].double() / temperature
    if top_k is not None:
        expected[top_k:] = float("-inf")  # the logits are sorted: the top k come first
    expected = torch.softmax(expected, dim=0)
    # 5 standard errors of a binomial proportion
    tolerance = 5 * torch.sqrt(expected * (1 - expected) / n) + 1e-9
    assert torch.all((freq - expected).abs() <= tolerance), (freq, expected)


def test_layer_cache_appends_and_returns_the_whole_prefix():
    cache = LayerKVCache(batch=2, n_head=3, head_size=4, max_len=10)
    chunks = [torch.randn(2, 3, t, 4) for t in (4, 1, 3)]
    values = [torch.randn(2, 3, t, 4) for t in (4, 1, 3)]
    for i in range(3):
        k_all, v_all = cache.append(chunks[i], values[i])
        assert torch.equal(k_all, torch.cat(chunks[: i + 1], dim=2)), (
            f"append {i}: the keys returned are not every key appended so far, in order"
        )
        assert torch.equal(v_all, torch.cat(values[: i + 1], dim=2)), (
            f"append {i}: the values returned are not every value appended so far"
        )
    assert cache.length == 8
    with pytest.raises(ValueError, match="do not fit"):
        cache.append(torch.randn(2, 3, 3, 4), torch.randn(2, 3, 3, 4))


def test_cached_forward_equals_the_full_forward(model):
    idx = torch.randint(0, 23, (2, 11), generator=torch.Generator().manual_seed(1))
    full, _ = model(idx)  # (B, 11, V)
    cache = KVCache.for_model(model, batch=2, max_len=11)
    # prefill 5, then a chunk of 3 (queries fewer than keys), then one at a time
    pieces = [model(idx[:, :5], cache=cache)[0], model(idx[:, 5:8], cache=cache)[0]]
    pieces += [model(idx[:, t : t + 1], cache=cache)[0] for t in range(8, 11)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full)
    assert cache.length == 11


def test_kv_cache_greedy_tokens_equal_generation_without_it(model):
    prompt = torch.randint(0, 23, (3, 4), generator=torch.Generator().manual_seed(2))
    cached = generate(model, prompt, 40, temperature=0.0, use_cache=True)
    uncached = generate(model, prompt, 40, temperature=0.0, use_cache=False)
    assert cached.shape == (3, 44)
    assert torch.equal(cached[:, :4], prompt)
    assert torch.equal(cached, uncached)


def test_kv_cache_sampling_with_one_seed_equals_generation_without_it(model):
    prompt = torch.zeros(2, 1, dtype=torch.long)
    runs = [
        generate(
            model,
            prompt,
            30,
            temperature=1.0,
            top_k=5,
            use_cache=use_cache,
            generator=torch.Generator().manual_seed(3),
        )
        for use_cache in (True, False, True)
    ]
    assert torch.equal(runs[0], runs[2]), "a seeded generator reproduces the sample"
    assert torch.equal(runs[0], runs[1])


def test_generation_without_a_cache_slides_past_the_context_window(model):
    prompt = torch.zeros(1, 40, dtype=torch.long)
    out = generate(
        model, prompt, 20, temperature=0.0, use_cache=False
    )  # 60 > block_size 48
    assert out.shape == (1, 60)
    # the last token depends only on the last 48 tokens before it
    context = out[:, -49:-1]
    assert int(model(context)[0][0, -1].argmax()) == int(out[0, -1])


@given(
    L=st.integers(1, 3),
    H=st.integers(1, 4),
    hs=st.integers(1, 8),
    seq_len=st.integers(1, 40),
    batch=st.integers(1, 3),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
)
def test_kv_cache_bytes_formula_matches_the_tensors(L, H, hs, seq_len, batch, dtype):
    model = GPT(
        GPTConfig(vocab_size=5, block_size=40, n_layer=L, n_head=H, n_embd=H * hs)
    )
    cache = KVCache.for_model(model, batch=batch, max_len=seq_len, dtype=dtype)
    element = torch.empty((), dtype=dtype).element_size()
    formula = kv_cache_bytes(
        n_layer=L,
        n_kv_head=H,
        head_size=hs,
        seq_len=seq_len,
        batch=batch,
        bytes_per_element=element,
    )
    assert formula == cache.nbytes
    # fewer K/V heads (grouped-query attention) shrink it in proportion
    assert (
        kv_cache_bytes(
            n_layer=L,
            n_kv_head=1,
            head_size=hs,
            seq_len=seq_len,
            batch=batch,
            bytes_per_element=element,
        )
        * H
        == formula
    )


@pytest.mark.given
def test_cache_generation_refuses_to_overrun_the_window(model):
    with pytest.raises(ValueError, match="block_size"):
        generate(model, torch.zeros(1, 40, dtype=torch.long), 20, use_cache=True)

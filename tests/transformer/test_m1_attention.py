"""m1: scaled dot-product attention with causal and key-padding masks.

Oracle: ``torch.nn.functional.scaled_dot_product_attention`` (its boolean
``attn_mask`` is True where attention is *allowed*, the opposite of our
``key_padding_mask``), and brute-force loops for the causal alignment.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from labs.transformer.attention import (
    attention_weights,
    causal_mask,
    scaled_dot_product_attention,
)
from labs.transformer.sqrt_d import softmax_saturation


def _qkv(seed: int, B: int, H: int, t_q: int, t_k: int, d: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, t_q, d, generator=g, dtype=dtype)
    k = torch.randn(B, H, t_k, d, generator=g, dtype=dtype)
    v = torch.randn(B, H, t_k, d, generator=g, dtype=dtype)
    return q, k, v, g


def _torch_mask(t_q: int, t_k: int, causal: bool, key_padding_mask):
    """F.sdpa's boolean mask: True = may attend."""
    allowed = torch.ones(t_q, t_k, dtype=torch.bool)
    if causal:
        allowed = torch.ones(t_k, t_k, dtype=torch.bool).tril()[t_k - t_q :]
    if key_padding_mask is not None:
        allowed = allowed & ~key_padding_mask[:, None, None, :]
    return allowed


@given(
    seed=st.integers(0, 2**16),
    B=st.integers(1, 3),
    H=st.integers(1, 3),
    T=st.integers(1, 9),
    d=st.integers(1, 16),
    causal=st.booleans(),
    pad=st.booleans(),
)
def test_matches_torch_sdpa_with_masks(seed, B, H, T, d, causal, pad):
    q, k, v, g = _qkv(seed, B, H, T, T, d)
    key_padding_mask = torch.rand(B, T, generator=g) < 0.3 if pad else None
    ours = scaled_dot_product_attention(
        q, k, v, causal=causal, key_padding_mask=key_padding_mask
    )
    mask = _torch_mask(T, T, causal, key_padding_mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert ours.shape == (B, H, T, d)
    torch.testing.assert_close(ours, expected)


@given(seed=st.integers(0, 2**16), T=st.integers(1, 12), d=st.integers(1, 8))
def test_causal_equals_is_causal(seed, T, d):
    q, k, v, _ = _qkv(seed, 2, 2, T, T, d)
    ours = scaled_dot_product_attention(q, k, v, causal=True)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(ours, expected)


@given(t_q=st.integers(1, 10), extra=st.integers(0, 10))
def test_causal_mask_aligns_queries_with_the_newest_keys(t_q, extra):
    t_k = t_q + extra
    mask = causal_mask(t_q, t_k)
    assert mask.shape == (t_q, t_k) and mask.dtype == torch.bool
    for i in range(t_q):
        position = i + t_k - t_q  # the query's absolute position
        for j in range(t_k):
            assert bool(mask[i, j]) == (j <= position), (
                f"causal_mask({t_q}, {t_k})[{i}, {j}] should be {j <= position}: "
                f"query {i} sits at position {position} and sees keys j <= {position}"
            )


def test_fewer_queries_than_keys_matches_explicit_mask():
    # Decoding with a KV cache: 3 new queries over 8 keys. F.sdpa's is_causal
    # aligns the mask top-left in this case, so the oracle gets an explicit mask.
    q, k, v, _ = _qkv(3, 2, 2, 3, 8, 4)
    ours = scaled_dot_product_attention(q, k, v, causal=True)
    expected = F.scaled_dot_product_attention(
        q, k, v, attn_mask=_torch_mask(3, 8, True, None)
    )
    torch.testing.assert_close(ours, expected)
    # ...and equals the last 3 rows of full causal attention over the 8 positions
    q_full = torch.cat([torch.randn(2, 2, 5, 4, dtype=q.dtype), q], dim=2)
    full = scaled_dot_product_attention(q_full, k, v, causal=True)
    torch.testing.assert_close(ours, full[:, :, 5:])


@given(seed=st.integers(0, 2**16), T=st.integers(2, 10), cut=st.integers(1, 9))
def test_causal_output_ignores_the_future(seed, T, cut):
    cut = min(cut, T - 1)
    q, k, v, g = _qkv(seed, 1, 2, T, T, 4)
    before = scaled_dot_product_attention(q, k, v, causal=True)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, cut:] = torch.randn(k2[:, :, cut:].shape, generator=g, dtype=k.dtype)
    v2[:, :, cut:] = torch.randn(v2[:, :, cut:].shape, generator=g, dtype=v.dtype)
    after = scaled_dot_product_attention(q, k2, v2, causal=True)
    torch.testing.assert_close(after[:, :, :cut], before[:, :, :cut])
    assert not torch.allclose(after[:, :, cut:], before[:, :, cut:])


@given(seed=st.integers(0, 2**16), T=st.integers(2, 10))
def test_padded_keys_get_zero_weight(seed, T):
    q, k, v, _ = _qkv(seed, 2, 2, T, T, 4)
    key_padding_mask = torch.zeros(2, T, dtype=torch.bool)
    key_padding_mask[0, T // 2 :] = True  # right padding on the first sequence
    weights = attention_weights(q, k, key_padding_mask=key_padding_mask)
    assert weights.shape == (2, 2, T, T)
    assert torch.all(weights[0, :, :, T // 2 :] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, T, dtype=q.dtype))
    # whatever sits in the padded slots cannot change the output
    v2 = v.clone()
    v2[0, :, T // 2 :] = 1e6
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v2, key_padding_mask=key_padding_mask),
        scaled_dot_product_attention(q, k, v, key_padding_mask=key_padding_mask),
    )


def test_fully_masked_rows_are_zero_not_nan():
    q, k, v, _ = _qkv(0, 2, 2, 4, 4, 8, dtype=torch.float32)
    for t in (q, k, v):
        t.requires_grad_(True)
    key_padding_mask = torch.tensor([[True] * 4, [False, True, True, True]])
    out = scaled_dot_product_attention(
        q, k, v, causal=True, key_padding_mask=key_padding_mask
    )
    assert torch.all(out[0] == 0), "a sequence with every key padded attends to nothing"
    assert torch.all(out[1] != 0), "each query of sequence 1 still sees key 0"
    out.sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all(), "no NaN may reach the gradients"
    weights = attention_weights(q, k, key_padding_mask=key_padding_mask)
    assert torch.all(weights[0] == 0)


@given(seed=st.integers(0, 2**16), d=st.integers(1, 64))
def test_default_scale_is_one_over_sqrt_d(seed, d):
    q, k, _, _ = _qkv(seed, 1, 1, 3, 5, d)
    expected = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
    torch.testing.assert_close(attention_weights(q, k), expected)
    unscaled = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
    torch.testing.assert_close(attention_weights(q, k, scale=1.0), unscaled)


def test_gradients_match_torch():
    q, k, v, g = _qkv(7, 2, 3, 6, 6, 5)
    key_padding_mask = torch.rand(2, 6, generator=g) < 0.3
    key_padding_mask[:, 0] = False
    ours_in = [t.clone().requires_grad_(True) for t in (q, k, v)]
    ref_in = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out = scaled_dot_product_attention(
        *ours_in, causal=True, key_padding_mask=key_padding_mask
    )
    ref = F.scaled_dot_product_attention(
        *ref_in, attn_mask=_torch_mask(6, 6, True, key_padding_mask)
    )
    upstream = torch.randn(out.shape, generator=g, dtype=out.dtype)
    (out * upstream).sum().backward()
    (ref * upstream).sum().backward()
    for a, b in zip(ours_in, ref_in, strict=True):
        torch.testing.assert_close(a.grad, b.grad)


def test_sqrt_d_keeps_the_softmax_out_of_saturation():
    rows = softmax_saturation(dims=(4, 64, 1024), n_queries=256)
    scaled = {r["d"]: r for r in rows if r["scaled"]}
    raw = {r["d"]: r for r in rows if not r["scaled"]}
    for d in (4, 64, 1024):
        # 1/√d keeps the scores at unit variance whatever the head size
        assert 0.8 < scaled[d]["score_std"] < 1.2, scaled[d]
        assert raw[d]["score_std"] == pytest.approx(math.sqrt(d), rel=0.2)
    # without it, attention collapses onto one key and the gradient vanishes
    assert raw[1024]["max_weight"] > 0.9
    assert raw[1024]["entropy_fraction"] < 0.1 < scaled[1024]["entropy_fraction"]
    assert raw[1024]["saturated_fraction"] > 0.5 > scaled[1024]["saturated_fraction"]
    assert raw[1024]["jacobian_norm"] < 0.01 * scaled[1024]["jacobian_norm"]
    assert (
        raw[4]["entropy_fraction"]
        > raw[64]["entropy_fraction"]
        > raw[1024]["entropy_fraction"]
    )


@pytest.mark.given
def test_bad_masks_are_explained():
    q, k, _, _ = _qkv(0, 2, 1, 3, 3, 4)
    with pytest.raises(TypeError, match="bool"):
        attention_weights(q, k, key_padding_mask=torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(B, T_k\)"):
        attention_weights(q, k, key_padding_mask=torch.zeros(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="t_q <= t_k"):
        causal_mask(4, 3)

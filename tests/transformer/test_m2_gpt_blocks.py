"""m2: layer norm, multi-head attention, MLP, the pre-norm block, the parameter count.

Oracles: ``nn.LayerNorm``, ``nn.MultiheadAttention`` with our weights copied
in, a block assembled from those PyTorch modules, and ``sum(p.numel())``.
"""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from labs.transformer.layers import MLP, Block, LayerNorm, MultiHeadAttention
from labs.transformer.model import GPT, GPTConfig, parameter_count


def _randomize(module: nn.Module, seed: int) -> None:
    """Non-trivial weights everywhere (LayerNorm starts at 1 and 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)


def _torch_mha(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """nn.MultiheadAttention holding our weights: in_proj is [q | k | v] like c_attn."""
    ref = nn.MultiheadAttention(ours.n_embd, ours.n_head, batch_first=True)
    ref = ref.to(ours.c_attn.weight.dtype)
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.c_attn.weight)
        ref.in_proj_bias.copy_(ours.c_attn.bias)
        ref.out_proj.weight.copy_(ours.c_proj.weight)
        ref.out_proj.bias.copy_(ours.c_proj.bias)
    return ref


def _torch_causal(T: int) -> torch.Tensor:
    return torch.ones(T, T, dtype=torch.bool).triu(1)  # nn.MHA: True = may NOT attend


def _right_padding(g: torch.Generator, B: int, T: int) -> torch.Tensor:
    """(B, T) True at padding; every sequence keeps at least its first token."""
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    return torch.arange(T)[None, :] >= lengths[:, None]


@given(
    seed=st.integers(0, 2**16),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    C=st.integers(1, 24),
)
def test_layer_norm_matches_torch(seed, shape, C):
    ours = LayerNorm(C).double()
    _randomize(ours, seed)
    ref = nn.LayerNorm(C, eps=1e-5).double()
    ref.load_state_dict(ours.state_dict())
    g = torch.Generator().manual_seed(seed + 1)
    x = (
        torch.randn(*shape, C, generator=g, dtype=torch.float64) * 3 + 1
    ).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    out, expected = ours(x), ref(x_ref)
    torch.testing.assert_close(out, expected)
    out.pow(2).sum().backward()
    expected.pow(2).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)


@given(
    seed=st.integers(0, 2**16),
    B=st.integers(1, 3),
    T=st.integers(1, 8),
    H=st.integers(1, 4),
    hs=st.integers(1, 6),
    causal=st.booleans(),
    pad=st.booleans(),
)
def test_multi_head_attention_matches_torch(seed, B, T, H, hs, causal, pad):
    torch.manual_seed(seed)
    ours = MultiHeadAttention(H * hs, H).double()
    _randomize(ours, seed)
    ref = _torch_mha(ours)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(B, T, H * hs, generator=g, dtype=torch.float64)
    key_padding_mask = _right_padding(g, B, T) if pad else None
    out = ours(x, causal=causal, key_padding_mask=key_padding_mask)
    expected, _ = ref(
        x,
        x,
        x,
        key_padding_mask=key_padding_mask,
        attn_mask=_torch_causal(T) if causal else None,
        need_weights=False,
    )
    assert out.shape == (B, T, H * hs)
    torch.testing.assert_close(out, expected)


@given(seed=st.integers(0, 2**16), C=st.integers(1, 16))
def test_mlp_is_linear_gelu_linear(seed, C):
    ours = MLP(C).double()
    _randomize(ours, seed)
    ref = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C)).double()
    ref.load_state_dict(
        {
            "0.weight": ours.c_fc.weight,
            "0.bias": ours.c_fc.bias,
            "2.weight": ours.c_proj.weight,
            "2.bias": ours.c_proj.bias,
        }
    )
    x = torch.randn(
        2, 3, C, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    torch.testing.assert_close(ours(x), ref(x))


@given(
    seed=st.integers(0, 2**16),
    T=st.integers(1, 8),
    H=st.integers(1, 4),
    pad=st.booleans(),
)
def test_block_is_pre_norm_with_residuals(seed, T, H, pad):
    C = 4 * H
    block = Block(C, H).double()
    _randomize(block, seed)
    ln_1, ln_2 = nn.LayerNorm(C).double(), nn.LayerNorm(C).double()
    ln_1.load_state_dict(block.ln_1.state_dict())
    ln_2.load_state_dict(block.ln_2.state_dict())
    attn = _torch_mha(block.attn)
    mlp = nn.Sequential(block.mlp.c_fc, nn.GELU(), block.mlp.c_proj)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(2, T, C, generator=g, dtype=torch.float64)
    key_padding_mask = _right_padding(g, 2, T) if pad else None

    h = ln_1(x)
    a, _ = attn(
        h,
        h,
        h,
        key_padding_mask=key_padding_mask,
        attn_mask=_torch_causal(T),
        need_weights=False,
    )
    expected = x + a
    expected = expected + mlp(ln_2(expected))
    torch.testing.assert_close(block(x, key_padding_mask=key_padding_mask), expected)


def test_block_is_causal():
    block = Block(16, 4).double()
    _randomize(block, 0)
    x = torch.randn(1, 10, 16, dtype=torch.float64)
    changed = x.clone()
    changed[:, 6:] = torch.randn(1, 4, 16, dtype=torch.float64)
    torch.testing.assert_close(block(changed)[:, :6], block(x)[:, :6])
    assert not torch.allclose(block(changed)[:, 6:], block(x)[:, 6:])


@given(
    V=st.integers(1, 120),
    P=st.integers(1, 300),
    L=st.integers(1, 4),
    H=st.integers(1, 4),
    hs=st.integers(1, 12),
)
def test_parameter_count_formula_matches_the_module(V, P, L, H, hs):
    config = GPTConfig(vocab_size=V, block_size=P, n_layer=L, n_head=H, n_embd=H * hs)
    model = GPT(config)
    assert parameter_count(config) == sum(p.numel() for p in model.parameters())


def test_parameter_count_does_not_depend_on_heads():
    counts = {
        parameter_count(
            GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=h, n_embd=48)
        )
        for h in (1, 2, 3, 4, 6, 8, 12)
    }
    assert len(counts) == 1
    assert counts.pop() == sum(
        p.numel() for p in GPT(GPTConfig(65, 64, 2, 6, 48)).parameters()
    )

"""m3: initialisation, Linear/ReLU/Tanh/MLP and a stable cross-entropy, against PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from autograd_helpers import arrays, examples
from hypothesis import given
from hypothesis import strategies as st

from labs.autograd import (
    MLP,
    Linear,
    ReLU,
    Tanh,
    Tensor,
    cross_entropy,
    init_weight,
    log_softmax,
)
from labs.autograd.loss import naive_cross_entropy


def test_init_schemes_have_the_right_scale():
    rng = np.random.default_rng(0)
    fan_in, fan_out = 400, 300
    he = init_weight(fan_in, fan_out, "he", rng)
    xavier = init_weight(fan_in, fan_out, "xavier", rng)
    tiny = init_weight(fan_in, fan_out, "tiny", rng)
    zeros = init_weight(fan_in, fan_out, "zeros", rng)
    for w in (he, xavier, tiny, zeros):
        assert w.shape == (fan_in, fan_out)
    assert he.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.03)
    assert abs(he.mean()) < 0.01
    bound = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(xavier).max() <= bound
    assert np.abs(xavier).max() > 0.99 * bound  # uniform fills the interval
    assert xavier.var() == pytest.approx(2 / (fan_in + fan_out), rel=0.03)
    assert tiny.std() == pytest.approx(0.01, rel=0.03)
    assert not zeros.any()


def test_linear_matches_torch_forward_and_gradients():
    layer = Linear(5, 3, init="xavier", rng=np.random.default_rng(1))
    assert layer.weight.shape == (5, 3) and layer.bias.shape == (3,)
    assert [p.shape for p in layer.parameters()] == [(5, 3), (3,)]
    x = np.random.default_rng(2).normal(size=(4, 5))
    out = layer(Tensor(x))
    (out * out).sum().backward()
    w = torch.tensor(layer.weight.data, requires_grad=True)
    b = torch.tensor(layer.bias.data, requires_grad=True)
    want = F.linear(torch.tensor(x), w.T, b)  # torch stores (out, in)
    (want * want).sum().backward()
    np.testing.assert_allclose(out.data, want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, w.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.bias.grad, b.grad.numpy(), rtol=1e-10)


def test_activation_modules():
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(ReLU()(Tensor(x)).data, [[0.0, 0.0, 2.0]])
    np.testing.assert_allclose(Tanh()(Tensor(x)).data, np.tanh(x))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_matches_a_torch_sequential(activation):
    model = MLP((6, 8, 7, 3), activation=activation, init="he", seed=3)
    linears = [layer for layer in model.layers if isinstance(layer, Linear)]
    assert len(linears) == 3 and len(model.parameters()) == 6
    act = torch.nn.ReLU() if activation == "relu" else torch.nn.Tanh()
    reference = torch.nn.Sequential(
        torch.nn.Linear(6, 8), act, torch.nn.Linear(8, 7), act, torch.nn.Linear(7, 3)
    ).double()
    with torch.no_grad():
        for ours_layer, theirs_layer in zip(linears, reference[::2], strict=True):
            theirs_layer.weight.copy_(torch.from_numpy(ours_layer.weight.data.T))
            theirs_layer.bias.copy_(torch.from_numpy(ours_layer.bias.data))
    x = np.random.default_rng(4).normal(size=(5, 6))
    targets = np.array([0, 2, 1, 2, 0])
    loss = cross_entropy(model(Tensor(x)), targets)
    loss.backward()
    want = F.cross_entropy(reference(torch.from_numpy(x)), torch.from_numpy(targets))
    want.backward()
    assert loss.item() == pytest.approx(want.item(), rel=1e-12)
    for ours_layer, theirs_layer in zip(linears, reference[::2], strict=True):
        np.testing.assert_allclose(
            ours_layer.weight.grad,
            theirs_layer.weight.grad.numpy().T,
            rtol=1e-9,
            atol=1e-12,
        )
        np.testing.assert_allclose(
            ours_layer.bias.grad, theirs_layer.bias.grad.numpy(), rtol=1e-9, atol=1e-12
        )


@given(
    data=st.data(),
    n=st.integers(1, 6),
    classes=st.integers(1, 6),
    scale=st.sampled_from([1.0, 30.0, 1e3, 1e4]),
)
@examples(40)
def test_log_softmax_matches_torch_at_any_scale(data, n, classes, scale):
    logits = data.draw(arrays((n, classes))) * scale
    got = log_softmax(Tensor(logits), axis=1).data
    want = torch.log_softmax(torch.from_numpy(logits), dim=1).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


@given(
    data=st.data(),
    n=st.integers(1, 6),
    classes=st.integers(2, 6),
    scale=st.sampled_from([1.0, 30.0, 1e3, 1e4]),
)
@examples(40)
def test_cross_entropy_value_and_gradient_match_torch(data, n, classes, scale):
    logits = data.draw(arrays((n, classes))) * scale
    targets = np.array(
        data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n))
    )
    x = Tensor(logits, requires_grad=True)
    loss = cross_entropy(x, targets)
    loss.backward()
    t = torch.tensor(logits, requires_grad=True)
    want = F.cross_entropy(t, torch.from_numpy(targets))
    want.backward()
    assert loss.item() == pytest.approx(want.item(), rel=1e-10, abs=1e-9)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_cross_entropy_does_not_overflow_at_logits_of_1e4():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]])
    targets = np.array([1, 2, 0])
    x = Tensor(logits, requires_grad=True)
    loss = cross_entropy(x, targets)
    loss.backward()
    t = torch.tensor(logits, requires_grad=True)
    want = F.cross_entropy(t, torch.from_numpy(targets))
    want.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad).all()
    assert loss.item() == pytest.approx(want.item(), rel=1e-12)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), atol=1e-12)
    assert not np.isfinite(naive_cross_entropy(logits, targets))  # the textbook formula


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(8, 4)) * 3
    targets = rng.integers(0, 4, size=8)
    x = Tensor(logits, requires_grad=True)
    cross_entropy(x, targets).backward()
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    one_hot = np.eye(4)[targets]
    np.testing.assert_allclose(x.grad, (softmax - one_hot) / 8, atol=1e-14)


@pytest.mark.given  # the label validation in loss.check_targets is provided
def test_bad_targets_say_what_is_wrong():
    logits = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"in \[0, 2\]"):
        cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(ValueError, match="shape"):
        cross_entropy(logits, np.array([0, 1, 2]))

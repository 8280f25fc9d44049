"""m1: every operation's forward equals numpy's, and its backward torch's.

A backward is checked on its own here: the test runs one operation, calls
that op's ``Function.backward`` directly and sums each gradient back to its
input's shape itself, so no part of the engine (m2) is needed yet.
"""

import operator

import numpy as np
import pytest
from autograd_helpers import (
    arrays,
    assert_grads_close,
    away_from_zero,
    examples,
    local_gradients,
    theirs,
)
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labs.autograd import Tensor

BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
}


@given(
    op=st.sampled_from(sorted(BINARY)),
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
    data=st.data(),
)
@examples()
def test_binary_ops_broadcast_like_numpy(op, shapes, data):
    a = data.draw(arrays(shapes.input_shapes[0]))
    b = data.draw(arrays(shapes.input_shapes[1], away_from_zero()))
    out = BINARY[op](Tensor(a), Tensor(b))
    assert isinstance(out, Tensor)
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.data, BINARY[op](a, b), rtol=1e-12)


def test_numbers_and_arrays_on_either_side():
    x = np.array([[0.5, -1.5, 2.0]])
    t = Tensor(x)
    cases = {
        "2 + x": (2 + t, 2 + x),
        "x - 1": (t - 1, x - 1),
        "1 - x": (1 - t, 1 - x),
        "3 * x": (3 * t, 3 * x),
        "x / 2": (t / 2, x / 2),
        "2 / x": (2 / t, 2 / x),
        "-x": (-t, -x),
        "x ** 2": (t**2, x**2),
        "x ** 3": (t**3, x**3),
        "array * x": (np.array([2.0, 0.0, -1.0]) * t, np.array([2.0, 0.0, -1.0]) * x),
    }
    for name, (got, want) in cases.items():
        assert isinstance(got, Tensor), f"{name} returned {type(got).__name__}"
        np.testing.assert_allclose(got.data, want, err_msg=name)


@given(data=st.data(), shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
@examples()
def test_unary_ops_match_numpy(data, shape):
    x = data.draw(arrays(shape))
    positive = np.abs(x) + 0.1
    np.testing.assert_allclose(Tensor(x).exp().data, np.exp(x), rtol=1e-12)
    np.testing.assert_allclose(
        Tensor(positive).log().data, np.log(positive), rtol=1e-12
    )
    np.testing.assert_allclose(Tensor(x).tanh().data, np.tanh(x), rtol=1e-12)
    np.testing.assert_array_equal(Tensor(x).relu().data, np.maximum(x, 0.0))
    np.testing.assert_allclose((Tensor(positive) ** 0.5).data, np.sqrt(positive))


@given(
    batch=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
    n=st.integers(1, 4),
    k=st.integers(1, 4),
    m=st.integers(1, 4),
    data=st.data(),
)
@examples()
def test_matmul_2d_and_batched(batch, n, k, m, data):
    a = data.draw(arrays((*batch.input_shapes[0], n, k)))
    b = data.draw(arrays((*batch.input_shapes[1], k, m)))
    out = Tensor(a) @ Tensor(b)
    assert out.shape == (*batch.result_shape, n, m)
    np.testing.assert_allclose(out.data, a @ b, rtol=1e-12, atol=1e-12)


@pytest.mark.given  # the shape check in Tensor.__matmul__ is provided
def test_matmul_with_mismatched_shapes_says_so():
    with pytest.raises(ValueError, match="do not line up"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((2, 3)))


@given(
    data=st.data(),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
    keepdims=st.booleans(),
)
@examples()
def test_sum_and_mean_over_axes_match_numpy(data, shape, keepdims):
    x = data.draw(arrays(shape))
    ndim = len(shape)
    axis = data.draw(
        st.one_of(
            st.none(),
            st.integers(-ndim, ndim - 1),
            st.lists(
                st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True
            ).map(tuple),
        )
    )
    got_sum = Tensor(x).sum(axis=axis, keepdims=keepdims)
    got_mean = Tensor(x).mean(axis=axis, keepdims=keepdims)
    want_sum = x.sum(axis=axis, keepdims=keepdims)
    want_mean = x.mean(axis=axis, keepdims=keepdims)
    assert got_sum.shape == want_sum.shape and got_mean.shape == want_mean.shape
    np.testing.assert_allclose(got_sum.data, want_sum, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_mean.data, want_mean, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", [None, 0, 1, (0, 1), (1, 2), (0, 2)])
def test_mean_divides_by_the_elements_each_output_averages(axes, keepdims):
    x = np.arange(24.0).reshape(2, 3, 4) ** 1.5  # sides 2, 3, 4 all differ
    got = Tensor(x).mean(axis=axes, keepdims=keepdims)
    np.testing.assert_allclose(
        got.data, x.mean(axis=axes, keepdims=keepdims), rtol=1e-12, err_msg=str(axes)
    )


@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
@examples()
def test_reshape_and_transpose_match_numpy(data, shape):
    x = data.draw(arrays(shape))
    perm = data.draw(st.permutations(range(len(shape))))
    t = Tensor(x)
    np.testing.assert_array_equal(t.reshape(-1).data, x.reshape(-1))
    np.testing.assert_array_equal(t.reshape(1, *shape).data, x.reshape(1, *shape))
    np.testing.assert_array_equal(
        t.reshape(tuple(reversed(shape))).data, x.reshape(tuple(reversed(shape)))
    )
    np.testing.assert_array_equal(t.transpose(*perm).data, x.transpose(perm))
    np.testing.assert_array_equal(t.transpose().data, x.transpose())
    np.testing.assert_array_equal(t.T.data, x.T)


def test_a_layer_forward_pass_matches_numpy():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    hidden = (Tensor(x) @ Tensor(w) + Tensor(b)).relu()  # (5, 3)
    out = (hidden * hidden).mean(axis=1, keepdims=True) - hidden.sum() / 15  # (5, 1)
    want_hidden = np.maximum(x @ w + b, 0.0)
    want = (want_hidden**2).mean(axis=1, keepdims=True) - want_hidden.sum() / 15
    np.testing.assert_allclose(out.data, want, rtol=1e-12)


def test_results_track_whether_a_gradient_is_needed():
    leaf = Tensor(np.ones(3), requires_grad=True)
    constant = Tensor(np.ones(3))
    assert (leaf * constant).requires_grad
    assert not (constant + 1).requires_grad
    assert (leaf.exp().sum()).requires_grad
    assert not (leaf * 2).is_leaf
    np.testing.assert_array_equal((leaf * 2).data, np.full(3, 2.0))


# ----- backward: each op's local derivative, against torch.autograd -------------

UNARY = {
    "neg": (operator.neg, arrays),
    "exp": (lambda x: x.exp(), arrays),
    "log": (lambda x: x.log(), lambda s: arrays(s, st.floats(0.2, 3.0))),
    "tanh": (lambda x: x.tanh(), arrays),
    "relu": (lambda x: x.relu(), arrays),
    "square": (lambda x: x**2, arrays),
    "cube": (lambda x: x**3, arrays),
    "sqrt": (lambda x: x**0.5, lambda s: arrays(s, st.floats(0.2, 3.0))),
}
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data(), shape=SHAPES)
@examples(25)
def test_unary_backward_matches_torch(name, data, shape):
    fn, strategy = UNARY[name]
    x = data.draw(strategy(shape))
    cotangent = data.draw(arrays(shape))
    value, grads = local_gradients(fn, [x], cotangent)
    want_value, want_grads = theirs(fn, [x], cotangent)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    assert_grads_close(grads, want_grads)


def test_relu_gradient_is_zero_at_zero_like_torch():
    x = np.array([-2.0, -0.0, 0.0, 1e-300, 3.0])
    _, (grad,) = local_gradients(lambda t: t.relu(), [x], np.full(5, 7.0))
    _, (want,) = theirs(lambda t: t.relu(), [x], np.full(5, 7.0))
    np.testing.assert_array_equal(want, [0.0, 0.0, 0.0, 7.0, 7.0])
    np.testing.assert_array_equal(grad, want)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
    data=st.data(),
)
@examples(30)
def test_binary_backward_matches_torch(name, shapes, data):
    a = data.draw(arrays(shapes.input_shapes[0]))
    b = data.draw(arrays(shapes.input_shapes[1], away_from_zero()))
    cotangent = data.draw(arrays(shapes.result_shape))
    _, grads = local_gradients(BINARY[name], [a, b], cotangent)
    _, want = theirs(BINARY[name], [a, b], cotangent)
    assert_grads_close(grads, want)


@given(
    batch=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
    n=st.integers(1, 4),
    k=st.integers(1, 4),
    m=st.integers(1, 4),
    data=st.data(),
)
@examples()
def test_matmul_backward_matches_torch_batched(batch, n, k, m, data):
    a = data.draw(arrays((*batch.input_shapes[0], n, k)))
    b = data.draw(arrays((*batch.input_shapes[1], k, m)))
    cotangent = data.draw(arrays((*batch.result_shape, n, m)))
    _, grads = local_gradients(operator.matmul, [a, b], cotangent)
    _, want = theirs(operator.matmul, [a, b], cotangent)
    assert_grads_close(grads, want)


@given(
    data=st.data(),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
    keepdims=st.booleans(),
)
@examples()
def test_sum_backward_matches_torch(data, shape, keepdims):
    x = data.draw(arrays(shape))
    axes = data.draw(
        st.one_of(
            st.none(),
            st.integers(0, len(shape) - 1),
            st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True).map(
                tuple
            ),
        )
    )

    def f(t):
        return t.sum(axis=axes, keepdims=keepdims)

    cotangent = data.draw(arrays(x.sum(axis=axes, keepdims=keepdims).shape))
    _, grads = local_gradients(f, [x], cotangent)
    _, want = theirs(f, [x], cotangent)
    assert_grads_close(grads, want)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", [None, 0, 1, 2, (0, 2), (1, 2)])
def test_sum_backward_puts_back_every_summed_axis(axes, keepdims):
    # Sides 2, 3, 4 differ, so a gradient aligned with the wrong axes cannot
    # broadcast by accident.
    x = np.arange(24.0).reshape(2, 3, 4) / 10

    def f(t):
        return t.sum(axis=axes, keepdims=keepdims)

    cotangent = np.random.default_rng(0).normal(size=f(x).shape)
    _, grads = local_gradients(f, [x], cotangent)
    _, want = theirs(f, [x], cotangent)
    assert_grads_close(grads, want)


@pytest.mark.parametrize("perm", [(1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])
def test_transpose_backward_applies_the_inverse_permutation(perm):
    # A 3-cycle is not its own inverse: (1, 2, 0) undoes (2, 0, 1).
    x = np.arange(24.0).reshape(2, 3, 4)
    cotangent = np.random.default_rng(1).normal(size=x.transpose(perm).shape)

    def f(t):
        return t.permute(*perm) if hasattr(t, "permute") else t.transpose(*perm)

    _, grads = local_gradients(f, [x], cotangent)
    _, want = theirs(f, [x], cotangent)
    assert_grads_close(grads, want)


@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
@examples()
def test_reshape_and_transpose_backward_match_torch(data, shape):
    x = data.draw(arrays(shape))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    target = tuple(reversed(shape))

    def moved(t):
        return t.permute(*perm) if hasattr(t, "permute") else t.transpose(*perm)

    for f, out_shape in (
        (moved, tuple(shape[i] for i in perm)),
        (lambda t: t.reshape(target), target),
        (lambda t: t.reshape(-1), (x.size,)),
    ):
        cotangent = data.draw(arrays(out_shape))
        _, grads = local_gradients(f, [x], cotangent)
        _, want = theirs(f, [x], cotangent)
        assert_grads_close(grads, want)

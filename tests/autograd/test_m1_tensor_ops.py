"""m1: forward values of every tensor operation equal numpy's (no gradients here)."""

import operator

import numpy as np
import pytest
from autograd_helpers import arrays, away_from_zero, examples
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

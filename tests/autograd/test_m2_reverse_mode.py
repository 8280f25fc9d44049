"""m2: the engine's gradients equal torch.autograd's (float64): broadcasting, reuse, order.

Each op's own backward is m1's; here the engine chains them through graphs:
gradients summed back to each input's shape, summed over a node's uses before
it passes them on, in an order that visits a node after all its consumers.
"""

import operator

import numpy as np
import pytest
import torch
from autograd_helpers import (
    arrays,
    assert_grads_close,
    away_from_zero,
    examples,
    graphs,
    ours,
    theirs,
)
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labs.autograd import Tensor, no_grad, topological_order, unbroadcast

BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
}


@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
    data=st.data(),
)
@examples()
def test_unbroadcast_sums_what_broadcasting_copied(shapes, data):
    shape = shapes.input_shapes[0]
    out_shape = shapes.result_shape
    grad = data.draw(arrays(out_shape))
    # Oracle: torch's gradient of x expanded to the broadcast shape.
    x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    (x.expand(out_shape) * torch.from_numpy(grad)).sum().backward()
    got = unbroadcast(grad, shape)
    assert got.shape == shape
    np.testing.assert_allclose(got, x.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
    data=st.data(),
)
@examples(30)
def test_binary_op_gradients_reduce_to_the_input_shapes(name, shapes, data):
    a = data.draw(arrays(shapes.input_shapes[0]))
    b = data.draw(arrays(shapes.input_shapes[1], away_from_zero()))
    cotangent = data.draw(arrays(shapes.result_shape))
    _, grads = ours(BINARY[name], [a, b], cotangent)
    _, want = theirs(BINARY[name], [a, b], cotangent)
    assert [g.shape for g in grads] == [a.shape, b.shape]
    assert_grads_close(grads, want)


@given(
    batch=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
    n=st.integers(1, 4),
    k=st.integers(1, 4),
    m=st.integers(1, 4),
    data=st.data(),
)
@examples()
def test_batched_matmul_gradients_match_torch(batch, n, k, m, data):
    a = data.draw(arrays((*batch.input_shapes[0], n, k)))
    b = data.draw(arrays((*batch.input_shapes[1], k, m)))
    cotangent = data.draw(arrays((*batch.result_shape, n, m)))
    _, grads = ours(operator.matmul, [a, b], cotangent)
    _, want = theirs(operator.matmul, [a, b], cotangent)
    assert_grads_close(grads, want)


@given(
    data=st.data(),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
    keepdims=st.booleans(),
    reduce=st.sampled_from(["sum", "mean"]),
)
@examples()
def test_reduction_gradients_match_torch(data, shape, keepdims, reduce):
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
        return getattr(t, reduce)(axis=axes, keepdims=keepdims)

    cotangent = data.draw(
        arrays(np.empty(shape).sum(axis=axes, keepdims=keepdims).shape)
    )
    _, grads = ours(f, [x], cotangent)
    _, want = theirs(f, [x], cotangent)
    assert_grads_close(grads, want)


def test_a_reused_node_sums_its_gradients():
    x = np.array([[0.3, -1.2, 2.0]])

    def f(t):
        a = t.tanh()  # used three times below
        return (a * a + a * t + a).sum()

    _, grads = ours(f, [x])
    _, want = theirs(f, [x])
    assert_grads_close(grads, want)
    # d/dx (x·x + x) = 2x + 1: both uses of x count.
    _, grads = ours(lambda t: (t * t + t).sum(), [x])
    np.testing.assert_allclose(grads[0], 2 * x + 1)


@given(graphs())
@examples(80)
def test_random_graphs_match_torch(graph_and_inputs):
    graph, inputs = graph_and_inputs
    value, grads = ours(graph, inputs)
    want_value, want = theirs(graph, inputs)
    np.testing.assert_allclose(
        value, want_value, rtol=1e-10, atol=1e-10, err_msg=str(graph)
    )
    for g, w in zip(grads, want, strict=True):
        scale = max(1.0, float(np.abs(w).max(initial=0.0)))
        np.testing.assert_allclose(
            g, w, rtol=1e-9, atol=1e-10 * scale, err_msg=str(graph)
        )


@given(graphs())
@examples(40)
def test_topological_order_puts_parents_first(graph_and_inputs):
    graph, inputs = graph_and_inputs
    leaves = [Tensor(x, requires_grad=True) for x in inputs]
    out = graph(*leaves)
    order = topological_order(out)
    position = {id(node): i for i, node in enumerate(order)}
    assert len(position) == len(order), "a node appears twice"
    assert order[-1] is out
    for node in order:
        for parent in node._ctx.parents if node._ctx is not None else ():
            if parent.requires_grad:
                assert position[id(parent)] < position[id(node)]


def test_a_deep_chain_does_not_hit_the_recursion_limit():
    x = Tensor(np.array([0.5]), requires_grad=True)
    y = x
    for _ in range(5000):  # an unrolled loop: 5,000 ops deep
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**5000], rtol=1e-9)


def test_backward_twice_accumulates_like_torch():
    x = np.array([1.0, -2.0, 0.5])
    ours_leaf = Tensor(x, requires_grad=True)
    theirs_leaf = torch.tensor(x, requires_grad=True)
    loss = (ours_leaf * ours_leaf).exp().sum()
    loss.backward()
    loss.backward()
    (ours_leaf * 3).sum().backward()  # a second graph on the same leaf
    torch_loss = (theirs_leaf * theirs_leaf).exp().sum()
    torch_loss.backward(retain_graph=True)
    torch_loss.backward()
    (theirs_leaf * 3).sum().backward()
    np.testing.assert_allclose(ours_leaf.grad, theirs_leaf.grad.numpy(), rtol=1e-12)


def test_constants_and_no_grad_results_get_no_gradient():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x = Tensor(np.array([3.0, 4.0]))  # data: no gradient wanted
    (w * x).sum().backward()
    np.testing.assert_allclose(w.grad, [3.0, 4.0])
    assert x.grad is None
    with no_grad():
        frozen = (w * x).sum()
    assert not frozen.requires_grad
    shifted = w - Tensor(w.data.max())  # a constant shift: no gradient flows into it
    (shifted * shifted).sum().backward()
    np.testing.assert_allclose(w.grad, [3.0, 4.0] + 2 * (w.data - 2.0))

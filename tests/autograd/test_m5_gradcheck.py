"""m5: the gradient checker: central differences agree with torch and catch wrong backwards."""

import numpy as np
import pytest
from autograd_helpers import examples, graphs, theirs
from hypothesis import given

from labs.autograd import Function, Tensor
from labs.autograd.gradcheck import gradcheck, numerical_gradient
from labs.autograd.graphs import SMOOTH_OPS


def test_numerical_gradient_is_a_central_difference():
    # For sum(x³) the central difference is exactly 3x² + ε²; a one-sided
    # difference would be off by about 3x·ε.
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]])
    eps = 1e-3
    (grad,) = numerical_gradient(lambda t: (t**3).sum(), [x], eps=eps)
    assert grad.shape == x.shape
    np.testing.assert_allclose(grad, 3 * x**2 + eps**2, atol=1e-8)


def test_numerical_gradient_covers_every_input_and_changes_none():
    a = np.array([1.0, 2.0])
    b = np.array([[0.5], [-1.5], [3.0]])  # broadcasts against a: (3, 2)
    copies = a.copy(), b.copy()
    grads = numerical_gradient(lambda s, t: (s * t).exp().sum(), [a, b])
    np.testing.assert_array_equal(a, copies[0])
    np.testing.assert_array_equal(b, copies[1])
    prod = np.exp(a * b)  # (3, 2)
    np.testing.assert_allclose(grads[0], (prod * b).sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(
        grads[1], (prod * a).sum(axis=1, keepdims=True), rtol=1e-6
    )


def test_numerical_gradient_moves_one_element_at_a_time_and_puts_it_back():
    # Every evaluation of f must see the point asked for with exactly one
    # element moved by ±ε. For (Σa + Σb)², a quadratic, central differences are
    # exact, so an element left displaced shows up in every later gradient.
    a, b = np.array([[0.5, -1.0], [2.0, 0.25]]), np.array([1.5, -0.5])
    eps = 1e-2
    seen = []

    def f(s, t):
        seen.append(np.concatenate([s.data.ravel(), t.data.ravel()]))
        return (s.sum() + t.sum()) ** 2

    grads = numerical_gradient(f, [a, b], eps=eps)
    point = np.concatenate([a.ravel(), b.ravel()])
    assert len(seen) == 2 * point.size, "two evaluations of f per element"
    for call, evaluated in enumerate(seen):
        moved = np.flatnonzero(evaluated != point)
        assert len(moved) == 1, (
            f"evaluation {call} moved elements {moved.tolist()} of the point; "
            "move one element at a time and restore it afterwards"
        )
        assert abs(evaluated[moved[0]] - point[moved[0]]) == pytest.approx(eps)
    total = 2 * (a.sum() + b.sum())
    np.testing.assert_allclose(grads[0], np.full(a.shape, total), rtol=1e-9)
    np.testing.assert_allclose(grads[1], np.full(b.shape, total), rtol=1e-9)


@given(graphs(ops=SMOOTH_OPS, max_steps=4))
@examples(30)
def test_numerical_gradient_agrees_with_torch_on_random_graphs(graph_and_inputs):
    graph, inputs = graph_and_inputs
    got = numerical_gradient(graph, inputs, eps=1e-6)
    _, want = theirs(graph, inputs)
    for g, w in zip(got, want, strict=True):
        scale = max(1.0, float(np.abs(w).max(initial=0.0)))
        np.testing.assert_allclose(
            g, w, rtol=1e-5, atol=1e-5 * scale, err_msg=str(graph)
        )


@given(graphs())
@examples(40)
def test_gradcheck_passes_the_engine_against_torch(graph_and_inputs):
    graph, inputs = graph_and_inputs
    result = gradcheck(graph, inputs, reference="torch", atol=1e-10, rtol=1e-9)
    assert result.ok, f"{result} for {graph}"
    _, want = theirs(graph, inputs)
    for ref, w in zip(result.reference, want, strict=True):
        np.testing.assert_allclose(ref, w, rtol=1e-12)
    assert result.max_abs_err < 1e-8


class BrokenTanh(Function):
    """tanh with the classic slip in its backward: 1 - y instead of 1 - y²."""

    def forward(self, a):
        return np.tanh(a)

    def backward(self, grad):
        return (grad * (1.0 - self.output),)


class OffByOneAt(Function):
    """The identity, whose backward adds 1 to a single element's gradient."""

    def __init__(self, index):
        self.index = index

    def forward(self, a):
        return a.copy()

    def backward(self, grad):
        wrong = np.array(grad)
        wrong[self.index] += 1.0
        return (wrong,)


def test_gradcheck_catches_a_wrong_backward_and_names_the_input():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(2, 2))

    def correct(a, b):
        return ((a @ b).tanh() * a.tanh().sum()).sum()

    def broken(a, b):
        return ((a @ b).tanh() * BrokenTanh.apply(a).sum()).sum()

    good = gradcheck(correct, [x, y])
    assert good.ok and good.max_abs_err < 1e-6
    bad = gradcheck(broken, [x, y])
    assert not bad.ok
    assert bad.worst_input == 0  # only `a` goes through the broken op
    assert bad.max_abs_err > 1e-3


def test_gradcheck_reports_the_worst_element():
    x, z = np.linspace(-1.0, 1.0, 12).reshape(3, 4), np.ones(2)

    def f(a, b):
        return (OffByOneAt.apply(a, index=(2, 1)) * 2.0).sum() + (b * b).sum()

    result = gradcheck(f, [x, z])
    assert not result.ok
    assert result.worst_input == 0
    assert result.worst_index == (2, 1)
    assert abs(result.max_abs_err - 1.0) < 1e-6
    assert np.isclose(result.engine[0][2, 1], 3.0) and np.isclose(
        result.reference[0][2, 1], 2.0
    )


def test_gradcheck_counts_a_nan_gradient_as_a_failure():
    class NanBackward(Function):
        def forward(self, a):
            return a * 1.0

        def backward(self, grad):
            return (grad * np.nan,)

    result = gradcheck(lambda a: NanBackward.apply(a).sum(), [np.ones(3)])
    assert not result.ok
    assert result.max_abs_err == np.inf


def test_numerical_gradient_of_a_reduction_matches_backward():
    leaf = Tensor(np.ones((2, 3)), requires_grad=True)
    (leaf.sum(axis=0) * 2.0).sum().backward()
    (grad,) = numerical_gradient(lambda t: (t.sum(axis=0) * 2.0).sum(), [leaf.data])
    np.testing.assert_allclose(grad, leaf.grad, rtol=1e-8)


class ScaledBackward(Function):
    """The identity, whose backward is ``factor`` times too large."""

    def __init__(self, factor):
        self.factor = factor

    def forward(self, a):
        return a.copy()

    def backward(self, grad):
        return (grad * self.factor,)


def test_gradcheck_tolerance_is_relative_to_the_reference():
    # The reference gradient is 2 everywhere; the engine's is 2·factor. With
    # rtol = 0.5 an element passes when |2·factor − 2| ≤ 0.5·2 = 1: the
    # reference, not the engine under test, sets the scale.
    x = np.array([0.3, -0.7])
    for factor, passes in ((1.45, True), (1.55, False), (0.55, True), (0.45, False)):
        result = gradcheck(
            lambda a, k=factor: (ScaledBackward.apply(a, factor=k) * 2.0).sum(),
            [x],
            atol=0.0,
            rtol=0.5,
        )
        assert result.ok is passes, (
            f"engine gradient {2 * factor:g} against reference 2 with rtol=0.5: "
            f"ok should be {passes}; the tolerance is atol + rtol·|reference|"
        )
        assert result.max_abs_err == pytest.approx(abs(2 * factor - 2), rel=1e-6)

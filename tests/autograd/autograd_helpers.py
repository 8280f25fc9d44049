"""Test helpers for the autograd lab: hypothesis strategies and a PyTorch oracle.

The oracle here is written independently of ``labs.autograd.gradcheck`` (a
milestone the candidate writes), so engine tests never depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labs.autograd.graphs import INPUT_RANGE, OPS, random_graph
from labs.autograd.tensor import Tensor

# Hypothesis's "explain" phase re-runs a failing test many times to report which
# parts of the input matter. On a starter, where every example fails, it costs
# ~15 s per test; shrinking (the minimal failing example) stays on. One bug per
# test: on a starter every op raises from its own line, and hypothesis would
# otherwise shrink each as a distinct bug and report an exception group.
NO_EXPLAIN = tuple(phase for phase in Phase if phase is not Phase.explain)


def examples(n: int = 60) -> settings:
    """Hypothesis settings for this lab: ``n`` examples, no explain phase, one bug."""
    return settings(max_examples=n, phases=NO_EXPLAIN, report_multiple_bugs=False)


FLOATS = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)


def arrays(shape: tuple[int, ...], elements: st.SearchStrategy[float] = FLOATS):
    return hnp.arrays(np.float64, shape, elements=elements)


def away_from_zero(low: float = 0.5, high: float = 3.0) -> st.SearchStrategy[float]:
    """Floats with |x| in [low, high]: safe denominators and log arguments."""
    magnitude = st.floats(low, high, allow_nan=False)
    return st.tuples(magnitude, st.booleans()).map(lambda t: t[0] if t[1] else -t[0])


@st.composite
def graphs(draw: st.DrawFn, ops: Sequence[str] = OPS, max_steps: int = 6):
    """A random graph and its inputs, drawn so hypothesis can shrink it."""
    values = st.floats(
        -INPUT_RANGE, INPUT_RANGE, allow_nan=False, allow_subnormal=False
    )
    return random_graph(
        lambda n: draw(st.sampled_from(range(n))),
        lambda shape: draw(arrays(shape, values)),
        ops=ops,
        max_steps=max_steps,
    )


def ours(
    f: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    cotangent: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """f's value and ∂(Σ f·cotangent)/∂input by this engine."""
    leaves = [Tensor(np.array(x), requires_grad=True) for x in inputs]
    out = f(*leaves)
    loss = out if cotangent is None else (out * cotangent).sum()
    loss.backward()
    grads = [
        leaf.grad if leaf.grad is not None else np.zeros(leaf.shape) for leaf in leaves
    ]
    return out.data, grads


def theirs(
    f: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    cotangent: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The same by torch.autograd in float64."""
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    out = f(*leaves)
    loss = out if cotangent is None else (out * torch.from_numpy(cotangent)).sum()
    loss.backward()
    grads = [
        leaf.grad.numpy() if leaf.grad is not None else np.zeros(tuple(leaf.shape))
        for leaf in leaves
    ]
    return out.detach().numpy(), grads


def assert_grads_close(
    got: Sequence[np.ndarray],
    want: Sequence[np.ndarray],
    rtol: float = 1e-9,
    atol: float = 1e-9,
) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.shape == w.shape, (
            f"input {i}: gradient shape {g.shape}, expected {w.shape}"
        )
        # Scale the tolerance by the gradient's size: round-off is relative.
        scale = max(1.0, float(np.abs(w).max(initial=0.0)))
        np.testing.assert_allclose(
            g, w, rtol=rtol, atol=atol * scale, err_msg=f"gradient of input {i}"
        )


def sum_to_shape(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A gradient in a broadcast shape summed back to ``shape`` (the test's own copy).

    An op's ``backward`` may return its gradients in the output's broadcast
    shape; the engine (m2) reduces them. The m1 tests reduce them here, so an
    op's backward is checked without the candidate's engine.
    """
    grad = np.asarray(grad, dtype=np.float64)
    assert grad.ndim >= len(shape), (
        f"a backward returned a gradient of shape {grad.shape} for an input of "
        f"shape {shape}: broadcasting never removes axes."
    )
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    grad = grad.sum(axis=stretched, keepdims=True) if stretched else grad
    assert grad.shape == shape, (
        f"a backward returned a gradient that reduces to shape {grad.shape}, "
        f"not the input's shape {shape}."
    )
    return grad


def local_gradients(
    f: Callable[..., Any], inputs: Sequence[np.ndarray], cotangent: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One operation's value and its ``backward(cotangent)``, without the engine.

    ``f`` applies a single operation to its arguments (``a * b``, ``x.exp()``,
    ``x.sum(axis=1)``). Only that op's ``Function.backward`` runs, so this
    checks m1's local derivatives on their own; each gradient is summed back
    to its input's shape by :func:`sum_to_shape`.
    """
    leaves = [Tensor(np.array(x), requires_grad=True) for x in inputs]
    out = f(*leaves)
    assert out._ctx is not None, "the operation recorded no Function"
    assert all(p is leaf for p, leaf in zip(out._ctx.parents, leaves, strict=True))
    grads = out._ctx.backward(np.array(cotangent, dtype=np.float64))
    assert len(grads) == len(inputs), (
        f"{type(out._ctx).__name__}.backward returned {len(grads)} gradients for "
        f"{len(inputs)} inputs; return one per input, in order."
    )
    return out.data, [
        sum_to_shape(g, np.shape(x)) for g, x in zip(grads, inputs, strict=True)
    ]

"""Gradient checking: is the engine's gradient the true derivative?

Two references for ∂f/∂x of a scalar function f of arrays:

- **central differences**, from nothing but f's values::

      ∂f/∂x_i ≈ (f(x + ε·e_i) − f(x − ε·e_i)) / (2ε)

  The Taylor terms of even order cancel, so the truncation error is
  f'''·ε²/6, against f''·ε/2 for the one-sided (forward) difference. Round-off
  adds about δ·|f|/ε (δ ≈ 1.1e-16 in float64), so the total error is smallest
  near ε ≈ δ^(1/3) ≈ 5e-6; in float32 (δ ≈ 6e-8) it can never beat ~1e-3,
  which is why gradient checks run in float64. It costs 2 evaluations of f
  per input element, so it checks a few small cases; it cannot train anything.
  Near a kink (ReLU at 0) it is simply wrong.

- **PyTorch**: the same function on ``torch.float64`` tensors, differentiated
  by ``torch.autograd``: an independent engine, agreeing to round-off.

A function here is any ``f(*tensors)`` written with the operations both
libraries share (``+ - * / @ ** .exp() .log() .tanh() .relu() .sum(axis=,
keepdims=) .mean() .reshape()``), returning a scalar; ``graphs.Graph`` is one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from labs.autograd.tensor import Tensor, no_grad

ScalarFn = Callable[..., Any]


def _arrays(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Float64 copies of the inputs (the check must never change the caller's data)."""
    if not inputs:
        raise ValueError("a gradient check needs at least one input array.")
    return [np.array(x, dtype=np.float64) for x in inputs]


def _scalar(out: Any, where: str) -> None:
    shape = tuple(out.shape)
    if int(np.prod(shape)) != 1:
        raise ValueError(
            f"{where}: f must return a scalar, got shape {shape}; end f with .sum() "
            "or a weighted sum."
        )


def value(f: ScalarFn, inputs: Sequence[np.ndarray]) -> float:
    """f's value on the engine, as a float (forward only, no graph recorded)."""
    with no_grad():
        out = f(*(Tensor(x) for x in inputs))
    _scalar(out, "value")
    return out.item()


def engine_gradients(f: ScalarFn, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """∂f/∂input for every input, by this engine's ``backward()``."""
    leaves = [Tensor(x, requires_grad=True) for x in _arrays(inputs)]
    out = f(*leaves)
    _scalar(out, "engine_gradients")
    out.backward()
    return [
        leaf.grad if leaf.grad is not None else np.zeros(leaf.shape) for leaf in leaves
    ]


def torch_gradients(f: ScalarFn, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """∂f/∂input for every input, by ``torch.autograd`` in float64."""
    import torch

    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    out = f(*leaves)
    _scalar(out, "torch_gradients")
    out.backward()
    return [
        leaf.grad.numpy() if leaf.grad is not None else np.zeros(tuple(leaf.shape))
        for leaf in leaves
    ]


def numerical_gradient(
    f: ScalarFn, inputs: Sequence[np.ndarray], eps: float = 1e-6
) -> list[np.ndarray]:
    """∂f/∂input for every input by central differences.

    Args:
        f: a scalar function of tensors (see the module docstring).
        inputs: the point to differentiate at, one array per argument of f.
        eps: the step ε.

    Returns:
        One array per input, its shape: (f(x+ε·e_i) − f(x−ε·e_i)) / 2ε at each i.
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}.")
    arrays = _arrays(inputs)  # perturbed in place, then restored
    # BEGIN SOLUTION m5: for every element of every input: f at +eps and -eps (restore it after), central difference
    grads = []
    for x in arrays:
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            original = x[i]
            x[i] = original + eps
            plus = value(f, arrays)
            x[i] = original - eps
            minus = value(f, arrays)
            x[i] = original
            grad[i] = (plus - minus) / (2.0 * eps)
        grads.append(grad)
    return grads
    # END SOLUTION


@dataclass(frozen=True)
class GradCheckResult:
    ok: bool  # every element within atol + rtol·|reference|
    max_abs_err: float  # max |engine − reference| over all elements
    worst_input: int  # index of the input holding the worst element
    worst_index: tuple[int, ...]  # that element's index within the input
    engine: list[np.ndarray]  # the engine's gradients
    reference: list[np.ndarray]  # the reference gradients

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "MISMATCH"
        return (
            f"gradcheck {verdict}: max |engine − reference| = {self.max_abs_err:.3g} "
            f"at input {self.worst_input}, element {self.worst_index}"
        )


def gradcheck(
    f: ScalarFn,
    inputs: Sequence[np.ndarray],
    *,
    reference: Literal["numerical", "torch"] = "numerical",
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
) -> GradCheckResult:
    """Compare the engine's gradients with central differences or with PyTorch.

    An element passes when |engine − reference| ≤ atol + rtol·|reference|
    (numpy's ``isclose`` rule). Use the defaults for ``numerical``; against
    ``torch`` both engines are exact up to round-off, so atol=1e-10 is fair.

    Returns:
        Whether every element passed, the largest absolute error and where it is.
    """
    if reference not in ("numerical", "torch"):
        raise ValueError(
            f"reference must be 'numerical' or 'torch', got {reference!r}."
        )
    arrays = _arrays(inputs)
    engine = engine_gradients(f, arrays)
    if reference == "torch":
        expected = torch_gradients(f, arrays)
    else:
        expected = numerical_gradient(f, arrays, eps=eps)
    # BEGIN SOLUTION m5: per element |engine − reference| against atol + rtol·|reference|; find the largest error and where it is
    ok, worst_err, worst_input, worst_index = True, -1.0, 0, ()
    for k, (got, want) in enumerate(zip(engine, expected, strict=True)):
        if got.shape != want.shape:
            raise ValueError(
                f"input {k}: engine gradient has shape {got.shape}, reference "
                f"{want.shape}; a gradient must have its input's shape."
            )
        err = np.abs(got - want)
        err[np.isnan(err)] = np.inf  # a NaN gradient is the worst error, not none
        ok = ok and bool(np.all(err <= atol + rtol * np.abs(want)))
        if err.size and err.max() > worst_err:
            index = np.unravel_index(int(np.argmax(err)), err.shape)
            worst_err = float(err[index])
            worst_input, worst_index = k, tuple(int(i) for i in index)
    worst_err = max(worst_err, 0.0)
    return GradCheckResult(ok, worst_err, worst_input, worst_index, engine, expected)
    # END SOLUTION

"""The differentiable operations, each a ``Function`` with a forward and a backward.

``forward`` computes the value on numpy arrays; ``backward`` turns
∂L/∂output into ∂L/∂input for each input, using what ``Function.apply``
recorded: ``self.inputs`` and ``self.output``. Both are milestone m1; the
engine that chains the backwards through a graph (``tensor.py``) is m2.

The chain rule, one local derivative at a time. For an elementwise
``y = f(a, b)``, ∂L/∂a = ∂L/∂y · ∂y/∂a, elementwise. A backward may return
gradients in the output's broadcast shape; the engine (``tensor.unbroadcast``)
sums them back to each input's shape.

Shape comments: ``a``, ``b`` are the inputs; ``(*S)`` is the broadcast shape
of the output.
"""

from __future__ import annotations

import numpy as np

from labs.autograd import tensor


def _swap_last(x: np.ndarray) -> np.ndarray:
    """Transpose the last two axes (a batch of matrices stays a batch)."""
    return np.swapaxes(x, -1, -2)


class Add(tensor.Function):
    """a + b."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: elementwise sum with numpy broadcasting
        return a + b  # (*S)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # BEGIN SOLUTION m1: ∂(a+b)/∂a = ∂(a+b)/∂b = 1
        return grad, grad
        # END SOLUTION


class Sub(tensor.Function):
    """a - b."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: elementwise difference with numpy broadcasting
        return a - b  # (*S)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # BEGIN SOLUTION m1: ∂(a-b)/∂a = 1, ∂(a-b)/∂b = -1
        return grad, -grad
        # END SOLUTION


class Mul(tensor.Function):
    """a * b."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: elementwise product with numpy broadcasting
        return a * b  # (*S)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # BEGIN SOLUTION m1: ∂(ab)/∂a = b, ∂(ab)/∂b = a
        a, b = self.inputs
        return grad * b, grad * a  # (*S) each; the engine unbroadcasts
        # END SOLUTION


class Div(tensor.Function):
    """a / b."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: elementwise quotient with numpy broadcasting
        return a / b  # (*S)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # BEGIN SOLUTION m1: ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = -a/b²
        a, b = self.inputs
        return grad / b, -grad * a / (b * b)
        # END SOLUTION


class Neg(tensor.Function):
    """-a."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: elementwise negation
        return -a
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray]:
        # BEGIN SOLUTION m1: ∂(-a)/∂a = -1
        return (-grad,)
        # END SOLUTION


class Pow(tensor.Function):
    """a ** p for a constant number p."""

    def __init__(self, exponent: float):
        self.exponent = exponent

    def forward(self, a: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: raise each element to self.exponent
        return a**self.exponent
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray]:
        # BEGIN SOLUTION m1: ∂(a^p)/∂a = p·a^(p-1)
        (a,) = self.inputs
        return (grad * self.exponent * a ** (self.exponent - 1),)
        # END SOLUTION


class Exp(tensor.Function):
    """e ** a."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: elementwise exponential
        return np.exp(a)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray]:
        # BEGIN SOLUTION m1: ∂e^a/∂a = e^a, which is the output already computed
        return (grad * self.output,)
        # END SOLUTION


class Log(tensor.Function):
    """Natural logarithm of a."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: elementwise natural logarithm
        return np.log(a)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray]:
        # BEGIN SOLUTION m1: ∂log(a)/∂a = 1/a
        (a,) = self.inputs
        return (grad / a,)
        # END SOLUTION


class Tanh(tensor.Function):
    """tanh(a)."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: elementwise hyperbolic tangent
        return np.tanh(a)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray]:
        # BEGIN SOLUTION m1: ∂tanh(a)/∂a = 1 - tanh(a)², from the saved output
        return (grad * (1.0 - self.output**2),)
        # END SOLUTION


class ReLU(tensor.Function):
    """max(a, 0)."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: elementwise max(a, 0)
        return np.maximum(a, 0.0)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray]:
        # BEGIN SOLUTION m1: the gradient passes where a > 0 and is 0 elsewhere (0 at a = 0, as PyTorch)
        (a,) = self.inputs
        return (grad * (a > 0),)
        # END SOLUTION


class MatMul(tensor.Function):
    """a @ b for (..., n, k) @ (..., k, m), batch axes broadcast."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: the (batched) matrix product
        return a @ b  # (..., n, k) @ (..., k, m) -> (..., n, m)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # BEGIN SOLUTION m1: ∂L/∂a = grad @ bᵀ and ∂L/∂b = aᵀ @ grad (transposing the last two axes)
        a, b = self.inputs
        grad_a = grad @ _swap_last(b)  # (..., n, m) @ (..., m, k) -> (..., n, k)
        grad_b = _swap_last(a) @ grad  # (..., k, n) @ (..., n, m) -> (..., k, m)
        return grad_a, grad_b  # batch axes may be broadcast; the engine unbroadcasts
        # END SOLUTION


class Sum(tensor.Function):
    """The sum of a over ``axes`` (a sorted tuple), keeping them as size 1 if asked."""

    def __init__(self, axes: tuple[int, ...], keepdims: bool):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, a: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: numpy's sum over self.axes, honouring self.keepdims
        return a.sum(axis=self.axes, keepdims=self.keepdims)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray]:
        # BEGIN SOLUTION m1: every summed element gets the output's gradient: restore the summed axes and broadcast
        (a,) = self.inputs
        if not self.keepdims:
            grad = np.expand_dims(grad, self.axes)  # size-1 axes where the sum was
        return (np.broadcast_to(grad, a.shape),)  # (*a.shape)
        # END SOLUTION


class Reshape(tensor.Function):
    """a with the same elements in ``shape``."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, a: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: reshape to self.shape
        return a.reshape(self.shape)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray]:
        # BEGIN SOLUTION m1: reshape the gradient back to the input's shape
        (a,) = self.inputs
        return (grad.reshape(a.shape),)
        # END SOLUTION


class Transpose(tensor.Function):
    """a with its axes permuted: output axis i is input axis ``axes[i]``."""

    def __init__(self, axes: tuple[int, ...]):
        self.axes = axes

    def forward(self, a: np.ndarray) -> np.ndarray:
        # BEGIN SOLUTION m1: permute the axes by self.axes
        return a.transpose(self.axes)
        # END SOLUTION

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray]:
        # BEGIN SOLUTION m1: apply the inverse permutation (np.argsort of self.axes)
        return (grad.transpose(np.argsort(self.axes)),)
        # END SOLUTION

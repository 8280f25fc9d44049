"""The Tensor: a numpy array that remembers the operation that made it.

Every operation on tensors runs a :class:`Function` (``ops.py``): its
``forward`` computes the new array, and the output tensor keeps a reference to
the function, which keeps its input tensors. That chain of references *is* the
computation graph. ``loss.backward()`` walks it from the loss back to the
leaves in reverse topological order and calls each function's ``backward``
(reverse-mode automatic differentiation, as in PyTorch).

Everything is float64: gradient checks against PyTorch and against central
differences are only meaningful with the extra precision.

A library module; ``labkit check autograd`` tests it, e.g.::

    >>> x = Tensor([[1.0, -2.0]], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([[ 2., -4.]])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

Axes = int | Sequence[int] | None

_grad_enabled = True  # flipped by no_grad(): operations then record no graph


@contextmanager
def no_grad() -> Iterator[None]:
    """Run forward passes without recording a graph (evaluation, finite differences)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def normalize_axes(axis: Axes, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes; ``None`` means every axis."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"axis {a} is out of range for a tensor with {ndim} dimensions; "
                f"use an axis in [{-ndim}, {ndim - 1}]."
            )
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis} repeats an axis; name each axis once.")
    return tuple(sorted(out))


class Function:
    """One differentiable operation, shaped like ``torch.autograd.Function``.

    A subclass implements

    - ``forward(*arrays) -> array``: the value, on plain numpy arrays;
    - ``backward(grad) -> tuple``: given ∂L/∂output (``grad``, the output's
      shape), return ∂L/∂input for every input, in the order of the inputs.
      A returned gradient may keep the *broadcast* shape of the output: the
      engine reduces it to the input's shape with :func:`unbroadcast`.

    :meth:`apply` records what ``backward`` needs on the instance:
    ``self.inputs`` (the input arrays), ``self.output`` (the output array) and
    ``self.parents`` (the input tensors, the graph's edges).
    """

    parents: tuple[Tensor, ...]
    inputs: tuple[np.ndarray, ...]
    output: np.ndarray

    def forward(self, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError(f"{type(self).__name__} has no backward()")

    @classmethod
    def apply(cls, *tensors: Tensor, **params: Any) -> Tensor:
        """Run the operation on ``tensors`` and link the output into the graph."""
        fn = cls(**params)
        fn.inputs = tuple(t.data for t in tensors)
        fn.output = np.asarray(fn.forward(*fn.inputs), dtype=np.float64)
        requires_grad = _grad_enabled and any(t.requires_grad for t in tensors)
        out = Tensor(fn.output, requires_grad=requires_grad)
        if requires_grad:  # only then is the graph needed (and kept alive)
            fn.parents = tensors
            out._ctx = fn
        return out


def as_tensor(value: Tensor | np.ndarray | float) -> Tensor:
    """``value`` as a Tensor; numbers and arrays become constants (no gradient)."""
    return value if isinstance(value, Tensor) else Tensor(value)


class Tensor:
    """A float64 numpy array with a gradient and a link to the op that made it.

    Args:
        data: anything ``np.asarray`` accepts; converted to float64 (no copy
            when it already is one).
        requires_grad: whether ``backward()`` should compute ∂L/∂self. Leaves
            you want gradients for (parameters) set it; every result of an
            operation on such a tensor inherits it.
    """

    __array_priority__ = 1000  # ndarray ⊕ Tensor defers to Tensor's reflected op

    def __init__(self, data: Any, requires_grad: bool = False):
        self.data: np.ndarray = np.asarray(data, dtype=np.float64)
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None  # ∂L/∂self after backward(), leaves only
        self._ctx: Function | None = None  # the Function that produced this tensor

    # ----- plumbing --------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4)}{grad})"

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        if self.size != 1:
            raise ValueError(
                f"item() needs a tensor with one element, got shape {self.shape}; "
                "reduce it first (e.g. .sum() or .mean())."
            )
        return float(self.data.reshape(()))

    def detach(self) -> Tensor:
        """The same values as a new leaf that no gradient flows through."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    # ----- elementwise arithmetic (numpy broadcasting) ---------------------------
    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(self, as_tensor(other))

    def __radd__(self, other: Any) -> Tensor:
        return ops.Add.apply(as_tensor(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self, as_tensor(other))

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(as_tensor(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, as_tensor(other))

    def __rmul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(as_tensor(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self, as_tensor(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(as_tensor(other), self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    def __pow__(self, exponent: float) -> Tensor:
        if isinstance(exponent, Tensor) or not np.isscalar(exponent):
            raise TypeError(
                f"only a number can be an exponent, got {type(exponent).__name__}; "
                "write exp(b * log(a)) for a tensor exponent."
            )
        return ops.Pow.apply(self, exponent=float(exponent))

    def exp(self) -> Tensor:
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        return ops.Log.apply(self)

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(self)

    def relu(self) -> Tensor:
        return ops.ReLU.apply(self)

    # ----- matrix product --------------------------------------------------------
    def __matmul__(self, other: Any) -> Tensor:
        other = as_tensor(other)
        if self.ndim < 2 or other.ndim < 2:
            raise ValueError(
                f"matmul needs tensors with at least 2 dimensions, got shapes "
                f"{self.shape} and {other.shape}; reshape a vector to (1, n) or (n, 1)."
            )
        if self.shape[-1] != other.shape[-2]:
            raise ValueError(
                f"matmul shapes {self.shape} @ {other.shape} do not line up: the last "
                f"axis of the left ({self.shape[-1]}) must equal the second-to-last "
                f"of the right ({other.shape[-2]})."
            )
        return ops.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return as_tensor(other).__matmul__(self)

    # ----- reductions and shape --------------------------------------------------
    def sum(self, axis: Axes = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (an int, a tuple, or None for all), like numpy."""
        axes = normalize_axes(axis, self.ndim)
        return ops.Sum.apply(self, axes=axes, keepdims=keepdims)

    def mean(self, axis: Axes = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis``: the sum divided by how many elements each output sums."""
        axes = normalize_axes(axis, self.ndim)
        # BEGIN SOLUTION m1: the sum over `axes` divided by the number of elements summed
        count = int(np.prod([self.shape[a] for a in axes]))
        return self.sum(axes, keepdims=keepdims) / count
        # END SOLUTION

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """Same elements in a new shape (one entry may be -1), like numpy."""
        target = (
            tuple(shape[0]) if len(shape) == 1 and not np.isscalar(shape[0]) else shape
        )
        try:
            new_shape = np.empty(self.shape, dtype=bool).reshape(target).shape
        except ValueError as exc:
            raise ValueError(
                f"cannot reshape a tensor of shape {self.shape} ({self.size} elements) "
                f"to {target}: {exc}"
            ) from None
        return ops.Reshape.apply(self, shape=new_shape)

    def transpose(self, *axes: int) -> Tensor:
        """Permute the axes (numpy's semantics); no axes reverses them."""
        perm = tuple(axes[0]) if len(axes) == 1 and not np.isscalar(axes[0]) else axes
        perm = perm or tuple(reversed(range(self.ndim)))
        n = self.ndim
        in_range = all(-n <= a < n for a in perm)
        if not in_range or sorted(a % n for a in perm) != list(range(n)):
            raise ValueError(
                f"transpose axes {perm} are not a permutation of the {n} axes "
                f"of a tensor of shape {self.shape}."
            )
        return ops.Transpose.apply(self, axes=tuple(int(a) % self.ndim for a in perm))

    @property
    def T(self) -> Tensor:
        return self.transpose()

    # ----- reverse mode ----------------------------------------------------------
    def backward(self, grad: np.ndarray | None = None) -> None:
        """Accumulate ∂self/∂leaf into ``leaf.grad`` for every leaf that requires it.

        ``grad`` is ∂L/∂self (default 1 for a scalar). Leaves *add* to their
        ``.grad`` like PyTorch, so call ``zero_grad`` between steps.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no leaf it "
                "depends on has requires_grad=True (or it was made under no_grad())."
            )
        if grad is None:
            if self.size != 1:
                raise ValueError(
                    f"backward() without a gradient needs a scalar, got shape "
                    f"{self.shape}; reduce it (e.g. .sum()) or pass grad=."
                )
            grad = np.ones_like(self.data)
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != self.shape:
            raise ValueError(
                f"grad has shape {grad.shape} but the tensor has shape {self.shape}."
            )
        # BEGIN SOLUTION m2: walk the nodes in reverse topological order, summing each node's incoming gradients (reuse) before calling its Function.backward; unbroadcast to each parent's shape; leaves accumulate into .grad
        grads: dict[int, np.ndarray] = {id(self): grad}  # ∂L/∂node, summed over uses
        for node in reversed(topological_order(self)):
            node_grad = grads.pop(id(node), None)
            if node_grad is None:
                continue
            if node._ctx is None:  # a leaf: accumulate across backward() calls
                node.grad = (
                    np.array(node_grad) if node.grad is None else node.grad + node_grad
                )
                continue
            parent_grads = node._ctx.backward(node_grad)
            for parent, parent_grad in zip(
                node._ctx.parents, parent_grads, strict=True
            ):
                if parent_grad is None or not parent.requires_grad:
                    continue
                parent_grad = unbroadcast(np.asarray(parent_grad), parent.shape)
                key = id(parent)
                # Out of place: a backward may hand the same array to two parents.
                grads[key] = grads[key] + parent_grad if key in grads else parent_grad
        # END SOLUTION


def topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor ``root`` depends on (that requires grad), parents before children.

    Iterative depth-first search: a graph thousands of operations deep (an
    unrolled loop) must not hit Python's recursion limit.
    """
    # BEGIN SOLUTION m2: post-order DFS with an explicit stack; each node once, after all its parents
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            for parent in node._ctx.parents:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order
    # END SOLUTION


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reduce a gradient in a broadcast shape back to the input's ``shape``.

    If ``x`` of shape (3, 1) was broadcast to (2, 3, 4), each element of ``x``
    was used 2·4 times, so ∂L/∂x sums ``grad`` over the new leading axis and
    over the axis where ``x`` had size 1: the result has shape (3, 1).
    """
    if grad.ndim < len(shape):
        raise ValueError(
            f"a gradient of shape {grad.shape} cannot belong to an input of shape "
            f"{shape}: broadcasting never removes axes."
        )
    # BEGIN SOLUTION m2: sum over the leading axes numpy added, then (keepdims) over axes where shape has 1
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))  # (*lead, *shape') -> shape'
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad
    # END SOLUTION


# The operations subclass Function (above), so they are imported last; Tensor's
# methods look them up as ops.<Name> when called.
from labs.autograd import ops  # noqa: E402

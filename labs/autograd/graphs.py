"""Random computation graphs over the engine's operations, runnable on Tensor or torch.

A :class:`Graph` is a list of steps, each an operation on earlier nodes (the
inputs first); every node no later step uses (a sink) is contracted with a
weight array and summed, so the output is a scalar that every step reaches.
The same graph runs on this engine's ``Tensor`` and on ``torch.Tensor``, so
its gradients can be compared with PyTorch's and with central differences.

Graphs are drawn by :func:`random_graph` from two callables, so one generator
serves both hypothesis (which can then shrink a failing graph to a small one)
and a seeded numpy generator (the benchmark):

- ``choose(n)`` → an int in [0, n): every structural decision;
- ``draw_array(shape)`` → a float64 array: the inputs and the sinks' weights.

What the graphs cover: broadcasting (inputs with fewer axes or size-1 axes),
reuse (a node feeding several steps, or both operands of one step, x·x), batched
matmul, reductions over random axes with and without keepdims, reshape and
transpose. Each node carries a bound on its magnitude so exp and products
stay far from overflow: a gradient check should test the calculus, not
float64's range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import permutations
from typing import Any

import numpy as np

Shape = tuple[int, ...]
OPS = (
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "pow",
    "exp",
    "log",
    "tanh",
    "relu",
    "matmul",
    "sum",
    "mean",
    "reshape",
    "transpose",
)
SMOOTH_OPS = tuple(op for op in OPS if op != "relu")  # no kinks: for finite differences
MAX_BOUND = 1e3  # no node may exceed this magnitude
INPUT_RANGE = 2.0  # draw_array should return values in [-2, 2]


@dataclass(frozen=True)
class Step:
    op: str
    args: tuple[int, ...]  # indices of earlier nodes; inputs are 0..n_inputs-1
    param: Any = None  # (axes, keepdims) / exponent / shape / permutation

    def describe(self, index: int) -> str:
        args = ", ".join(f"n{a}" for a in self.args)
        extra = "" if self.param is None else f", {self.param}"
        return f"n{index} = {self.op}({args}{extra})"


@dataclass(frozen=True)
class Graph:
    """Inputs → steps → Σ over the sinks (nodes no later step uses) of (node · w).sum()."""

    input_shapes: tuple[Shape, ...]
    steps: tuple[Step, ...]
    sinks: tuple[int, ...]  # the nodes that reach the output directly
    weights: tuple[np.ndarray, ...]  # one per sink, its shape: contract it to a scalar

    def __call__(self, *inputs: Any) -> Any:
        if len(inputs) != len(self.input_shapes):
            raise ValueError(
                f"this graph takes {len(self.input_shapes)} inputs, got {len(inputs)}."
            )
        nodes = list(inputs)
        for step in self.steps:
            nodes.append(_apply(step, nodes))
        terms = [
            (nodes[i] * _like(nodes[i], w)).sum()
            for i, w in zip(self.sinks, self.weights, strict=True)
        ]
        out = terms[0]
        for term in terms[1:]:
            out = out + term
        return out

    def __str__(self) -> str:
        shapes = ", ".join(f"n{i}: {s}" for i, s in enumerate(self.input_shapes))
        body = "; ".join(
            step.describe(len(self.input_shapes) + i)
            for i, step in enumerate(self.steps)
        )
        sinks = " + ".join(f"sum(n{i} * w)" for i in self.sinks)
        return f"inputs {shapes}; {body}; out = {sinks}"


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _like(x: Any, array: np.ndarray) -> Any:
    """``array`` as a constant of x's kind (torch tensors do not mix with ndarrays)."""
    if _is_torch(x):
        import torch

        return torch.from_numpy(np.ascontiguousarray(array))
    return array


def _swap_last(x: Any) -> Any:
    if _is_torch(x):
        return x.transpose(-1, -2)
    perm = (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2)
    return x.transpose(*perm)


def _apply(step: Step, nodes: list[Any]) -> Any:
    a = nodes[step.args[0]]
    b = nodes[step.args[1]] if len(step.args) > 1 else None
    match step.op:
        case "add":
            return a + b
        case "sub":
            return a - b
        case "mul":
            return a * b
        case "div":
            return a / (b * b + 1.0)  # a denominator ≥ 1
        case "neg":
            return -a
        case "pow":
            return a**step.param
        case "exp":
            return a.exp()
        case "log":
            return (a * a + 1.0).log()  # an argument ≥ 1
        case "tanh":
            return a.tanh()
        case "relu":
            return a.relu()
        case "matmul":
            return a @ _swap_last(b)  # (..., n, k) @ (..., k, m)
        case "sum" | "mean":
            axes, keepdims = step.param
            reduce = a.sum if step.op == "sum" else a.mean
            return reduce(axis=axes, keepdims=keepdims)
        case "reshape":
            return a.reshape(step.param)
        case "transpose":
            return a.permute(*step.param) if _is_torch(a) else a.transpose(*step.param)
    raise ValueError(f"unknown graph op {step.op!r}; use one of {OPS}.")


def _broadcastable(s: Shape, t: Shape) -> bool:
    try:
        np.broadcast_shapes(s, t)
    except ValueError:
        return False
    return True


def random_graph(
    choose: Callable[[int], int],
    draw_array: Callable[[Shape], np.ndarray],
    *,
    max_inputs: int = 3,
    max_steps: int = 6,
    ops: Sequence[str] = OPS,
) -> tuple[Graph, list[np.ndarray]]:
    """Draw a graph and its input arrays.

    Args:
        choose: ``choose(n)`` returns an int in [0, n).
        draw_array: returns a float64 array of the given shape, values in [-2, 2].
        max_inputs: at most this many inputs (≥ 1).
        max_steps: at most this many operations (≥ 1).
        ops: the operations to draw from (e.g. ``SMOOTH_OPS`` without relu).

    Returns:
        The graph and one array per input.
    """
    unknown = set(ops) - set(OPS)
    if unknown or not ops:
        raise ValueError(f"ops must be a non-empty subset of {OPS}, got {list(ops)}.")
    ndim = 1 + choose(3)
    base = tuple(1 + choose(4) for _ in range(ndim))
    shapes: list[Shape] = [base]
    for _ in range(choose(max_inputs)):  # more inputs, broadcastable against base
        dropped = base[choose(len(base)) :] if choose(2) else base
        shapes.append(tuple(1 if choose(3) == 0 else n for n in dropped))
    inputs = [np.asarray(draw_array(s), dtype=np.float64) for s in shapes]
    bounds = [float(np.abs(x).max(initial=0.0)) for x in inputs]
    n_inputs = len(shapes)
    steps: list[Step] = []
    for _ in range(1 + choose(max_steps)):
        op = ops[choose(len(ops))]
        a = choose(len(shapes))
        step, shape, bound = _propose(op, a, shapes, bounds, choose)
        if bound > MAX_BOUND:  # would risk overflow: squash instead
            step, shape, bound = Step("tanh", (a,)), shapes[a], 1.0
        steps.append(step)
        shapes.append(shape)
        bounds.append(bound)
    used = {a for step in steps for a in step.args}
    sinks = tuple(i for i in range(n_inputs, len(shapes)) if i not in used)
    weights = tuple(np.asarray(draw_array(shapes[i]), dtype=np.float64) for i in sinks)
    return Graph(tuple(shapes[:n_inputs]), tuple(steps), sinks, weights), inputs


def _propose(
    op: str,
    a: int,
    shapes: list[Shape],
    bounds: list[float],
    choose: Callable[[int], int],
) -> tuple[Step, Shape, float]:
    """One step applying ``op`` to node ``a``: (step, output shape, magnitude bound)."""
    shape, bound = shapes[a], bounds[a]
    if op in ("add", "sub", "mul", "div"):
        partners = [i for i, s in enumerate(shapes) if _broadcastable(shape, s)]
        b = partners[choose(len(partners))]  # may be a itself: reuse
        out = np.broadcast_shapes(shape, shapes[b])
        bb = bounds[b]
        new = {"add": bound + bb, "sub": bound + bb, "mul": bound * bb}.get(op, bound)
        return Step(op, (a, b)), out, new
    if op == "neg":
        return Step(op, (a,)), shape, bound
    if op == "pow":
        p = (2, 3)[choose(2)]
        return Step(op, (a,), p), shape, bound**p
    if op == "exp":
        return Step(op, (a,)), shape, float(np.exp(min(bound, 50.0)))
    if op == "log":
        return Step(op, (a,)), shape, float(np.log1p(bound * bound))
    if op in ("tanh", "relu"):
        return Step(op, (a,)), shape, 1.0 if op == "tanh" else bound
    if op == "matmul" and len(shape) >= 2:
        k = shape[-1]
        partners = [
            i
            for i, s in enumerate(shapes)
            if len(s) >= 2 and s[-1] == k and _broadcastable(shape[:-2], s[:-2])
        ]
        b = partners[choose(len(partners))]  # includes a: a @ aᵀ
        batch = np.broadcast_shapes(shape[:-2], shapes[b][:-2])
        out = (*batch, shape[-2], shapes[b][-2])
        return Step(op, (a, b)), out, k * bound * bounds[b]
    if op in ("sum", "mean"):
        mask = [choose(2) for _ in shape]
        axes = tuple(i for i, keep in enumerate(mask) if keep) or None
        keepdims = bool(choose(2))
        out_shape = np.empty(shape).sum(axis=axes, keepdims=keepdims).shape
        count = int(np.prod(shape)) // max(int(np.prod(out_shape)), 1)
        return (
            Step(op, (a,), (axes, keepdims)),
            out_shape,
            bound * (count if op == "sum" else 1),
        )
    if op == "reshape" and shape:
        options = [(-1,), tuple(reversed(shape)), (1, *shape)]
        target = options[choose(len(options))]
        return Step(op, (a,), target), np.empty(shape).reshape(target).shape, bound
    if op == "transpose" and len(shape) >= 2:
        perms = list(permutations(range(len(shape))))
        perm = perms[choose(len(perms))]
        return Step(op, (a,), perm), tuple(shape[i] for i in perm), bound
    # The op does not fit this node (matmul on a vector, ...): squash instead.
    return Step("tanh", (a,)), shape, 1.0


def rng_graph(
    rng: np.random.Generator, **kwargs: Any
) -> tuple[Graph, list[np.ndarray]]:
    """A random graph from a seeded numpy generator (see :func:`random_graph`)."""
    return random_graph(
        lambda n: int(rng.integers(n)),
        lambda shape: rng.uniform(-INPUT_RANGE, INPUT_RANGE, size=shape),
        **kwargs,
    )

"""Layers: weight initialisation, Linear, ReLU, Tanh and an MLP built from them.

A ``Module`` owns parameters (leaf tensors with ``requires_grad=True``) and
sub-modules; ``parameters()`` finds them all, so an optimiser can update them.
Weights are stored (fan_in, fan_out) so a layer is ``x @ W + b`` on a batch
``x`` of shape (B, fan_in).

Initialisation sets the scale of every activation at step 0:

- **He** (Kaiming) normal, std √(2/fan_in): keeps the variance of ReLU
  activations constant through depth (ReLU zeroes half the signal, hence the 2).
- **Xavier** (Glorot) uniform, ±√(6/(fan_in+fan_out)): variance 2/(fan_in+fan_out),
  balanced for the forward and backward pass of tanh-like units.
- **tiny**, std 0.01: activations and gradients shrink by ~0.01·√fan_in per
  layer; a deep net starts with a vanishing signal.
- **zeros**: every hidden unit computes the same function and gets the same
  gradient, so they never become different (and with ReLU, W never moves).

``labkit run autograd`` measures what each scheme does to a deep net.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Literal, get_args

import numpy as np

from labs.autograd.tensor import Tensor

InitScheme = Literal["he", "xavier", "tiny", "zeros"]
Activation = Literal["relu", "tanh"]
TINY_STD = 0.01  # the "small random numbers" init


def init_weight(
    fan_in: int, fan_out: int, scheme: InitScheme, rng: np.random.Generator
) -> np.ndarray:
    """A (fan_in, fan_out) weight matrix drawn by ``scheme``.

    Args:
        fan_in: inputs per unit.
        fan_out: units in the layer.
        scheme: ``he`` N(0, 2/fan_in); ``xavier`` U(-a, a) with a = √(6/(fan_in+fan_out));
            ``tiny`` N(0, 0.01²); ``zeros``.
        rng: the random generator (every random thing takes a seed).
    """
    if scheme not in get_args(InitScheme):
        raise ValueError(
            f"unknown init scheme {scheme!r}; use one of {get_args(InitScheme)}."
        )
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"fan_in and fan_out must be ≥ 1, got {fan_in}, {fan_out}.")
    shape = (fan_in, fan_out)
    # BEGIN SOLUTION m3: draw the matrix for each scheme (he, xavier, tiny, zeros)
    if scheme == "he":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    if scheme == "xavier":
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=shape)
    if scheme == "tiny":
        return rng.normal(0.0, TINY_STD, size=shape)
    return np.zeros(shape)
    # END SOLUTION


class Module:
    """A callable with parameters: ``module(x)`` runs ``forward(x)``."""

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def parameters(self) -> list[Tensor]:
        """Every parameter of this module and its sub-modules, in definition order."""
        found: list[Tensor] = []
        for value in vars(self).values():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, Tensor) and item.requires_grad:
                    found.append(item)
                elif isinstance(item, Module):
                    found.extend(item.parameters())
        return found

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def modules(self) -> Iterator[Module]:
        """This module and every sub-module, depth first."""
        yield self
        for value in vars(self).values():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, Module):
                    yield from item.modules()


class Linear(Module):
    """y = x @ W + b, with W of shape (fan_in, fan_out) and b zero at init."""

    def __init__(
        self,
        fan_in: int,
        fan_out: int,
        init: InitScheme = "he",
        rng: np.random.Generator | None = None,
    ):
        rng = rng if rng is not None else np.random.default_rng(0)
        self.weight = Tensor(
            init_weight(fan_in, fan_out, init, rng), requires_grad=True
        )
        self.bias = Tensor(np.zeros(fan_out), requires_grad=True)

    def forward(self, x: Tensor) -> Tensor:
        fan_in = self.weight.shape[0]
        if x.shape[-1:] != (fan_in,):
            raise ValueError(
                f"Linear expects inputs whose last axis is {fan_in}, got shape "
                f"{x.shape}; check the layer sizes."
            )
        # BEGIN SOLUTION m3: the affine map x @ W + b
        return x @ self.weight + self.bias  # (B, in) @ (in, out) + (out,) -> (B, out)
        # END SOLUTION


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        # BEGIN SOLUTION m3: the tensor's relu
        return x.relu()
        # END SOLUTION


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        # BEGIN SOLUTION m3: the tensor's tanh
        return x.tanh()
        # END SOLUTION


class MLP(Module):
    """A multi-layer perceptron: Linear → activation → … → Linear (logits).

    Args:
        sizes: layer widths from input to output, e.g. (64, 128, 10).
        activation: ``relu`` or ``tanh`` after every hidden layer.
        init: the weight initialisation of every layer.
        seed: seeds the weights.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: Activation = "relu",
        init: InitScheme = "he",
        seed: int = 0,
    ):
        if len(sizes) < 2:
            raise ValueError(
                f"an MLP needs at least an input and an output size, got {list(sizes)}."
            )
        if activation not in get_args(Activation):
            raise ValueError(
                f"unknown activation {activation!r}; use one of {get_args(Activation)}."
            )
        rng = np.random.default_rng(seed)
        self.sizes = tuple(sizes)
        self.layers: list[Module] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            self.layers.append(Linear(fan_in, fan_out, init=init, rng=rng))
            if i < len(sizes) - 2:  # no activation after the output layer
                self.layers.append(ReLU() if activation == "relu" else Tanh())

    def forward(self, x: Tensor) -> Tensor:
        # BEGIN SOLUTION m3: apply the layers in order
        for layer in self.layers:
            x = layer(x)  # (B, sizes[i]) -> (B, sizes[i+1])
        return x  # (B, sizes[-1]) logits
        # END SOLUTION

    def hidden_activations(self, x: Tensor) -> list[np.ndarray]:
        """The output of every activation layer (for dead-unit and scale statistics)."""
        outputs = []
        for layer in self.layers:
            x = layer(x)
            if isinstance(layer, (ReLU, Tanh)):
                outputs.append(x.data)
        return outputs

"""Optimisers: SGD with momentum and Adam, with PyTorch's update rules.

Both read ``p.grad`` (set by ``backward()``) and replace ``p.data``. A
parameter whose ``grad`` is None (unused this step) is skipped, as in PyTorch.
Weight decay is the L2 kind: ``g ← g + λ·p`` before the update.

SGD with momentum (``torch.optim.SGD``, dampening 0, not Nesterov)::

    v ← μ·v + g          (v = g on the first step)
    p ← p − lr·v

Adam (``torch.optim.Adam``, Kingma & Ba 2015), step t = 1, 2, …::

    m ← β₁·m + (1−β₁)·g            first moment (mean of g)
    v ← β₂·v + (1−β₂)·g²           second moment (uncentred variance of g)
    m̂ = m / (1−β₁ᵗ),  v̂ = v / (1−β₂ᵗ)   bias correction: m, v start at 0
    p ← p − lr · m̂ / (√v̂ + ε)

Adam's step is about lr in every coordinate whatever the gradient's scale;
SGD's is lr times the gradient. That is the whole trade-off in one line.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from labs.autograd.tensor import Tensor


class Optimizer:
    """Holds the parameters to update; ``zero_grad`` clears their gradients."""

    def __init__(self, params: Iterable[Tensor], lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError(
                "the optimiser got no parameters; pass model.parameters()."
            )
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise ValueError(
                    f"parameter {i} is not a Tensor with requires_grad=True "
                    f"(got {p!r}); only leaves that need gradients can be optimised."
                )
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive, got {lr}.")
        self.lr = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no step()")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay.

    Args:
        params: the parameters.
        lr: the learning rate.
        momentum: μ in [0, 1); 0 is plain SGD.
        weight_decay: λ ≥ 0.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}.")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be ≥ 0, got {weight_decay}.")
        self.momentum, self.weight_decay = momentum, weight_decay
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)

    def step(self) -> None:
        # BEGIN SOLUTION m4: for each parameter with a gradient: add weight decay, update the velocity (v = g on the first step), then p -= lr·v
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                v = self.velocity[i]
                v = g.copy() if v is None else self.momentum * v + g
                self.velocity[i] = v
                g = v
            p.data = p.data - self.lr * g
        # END SOLUTION


class Adam(Optimizer):
    """Adam with bias-corrected moments and optional L2 weight decay.

    Args:
        params: the parameters.
        lr: the learning rate (the size of a typical step).
        betas: (β₁, β₂), decay rates of the first and second moments.
        eps: ε, keeps the step finite where v̂ ≈ 0.
        weight_decay: λ ≥ 0 (added to the gradient, as torch.optim.Adam does).
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas}.")
        if eps <= 0 or weight_decay < 0:
            raise ValueError(
                f"eps must be > 0 and weight_decay ≥ 0, got {eps}, {weight_decay}."
            )
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.t = [0] * len(self.params)  # steps taken, per parameter
        self.m = [np.zeros_like(p.data) for p in self.params]  # first moments
        self.v = [np.zeros_like(p.data) for p in self.params]  # second moments

    def step(self) -> None:
        # BEGIN SOLUTION m4: for each parameter with a gradient: weight decay, update m and v, bias-correct with the step count t, then p -= lr·m̂/(√v̂ + ε)
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            self.t[i] += 1
            t = self.t[i]
            self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * g
            self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * g * g
            bias1, bias2 = 1.0 - beta1**t, 1.0 - beta2**t
            # Same arithmetic order as torch: lr/bias1 · m / (√v/√bias2 + ε).
            denom = np.sqrt(self.v[i]) / np.sqrt(bias2) + self.eps
            p.data = p.data - (self.lr / bias1) * self.m[i] / denom
        # END SOLUTION

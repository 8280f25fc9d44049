"""The measurements behind the interview answers: init, dead ReLUs, overflow, gradient checks.

Each function measures one thing with the lab's own code and returns plain
rows (dicts) that ``run.py`` turns into tables and plots. Nothing here is
tested as a milestone; it is what the candidate looks at afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from labs.autograd import gradcheck, graphs
from labs.autograd.loss import cross_entropy, naive_cross_entropy
from labs.autograd.nn import MLP, Linear
from labs.autograd.optim import Adam
from labs.autograd.tensor import Tensor, no_grad
from labs.autograd.train import (
    N_CLASSES,
    N_FEATURES,
    DigitsData,
    TrainConfig,
    accuracy,
    train,
    train_epoch,
)

SCHEMES = ("zeros", "tiny", "xavier", "he")


def signal_through_depth(
    data: DigitsData, depth: int = 10, width: int = 128, batch: int = 256
) -> list[dict[str, Any]]:
    """Activation std and weight-gradient norm per layer of a deep ReLU net at init.

    One row per (scheme, layer): what a forward and a backward pass look like
    before any training, on ``batch`` real digits.
    """
    x = Tensor(data.x_train[:batch])  # (B, 64)
    y = data.y_train[:batch]
    rows = []
    for scheme in SCHEMES:
        model = MLP((N_FEATURES, *[width] * depth, N_CLASSES), init=scheme, seed=0)
        with threadpool_limits(limits=1):
            cross_entropy(model(x), y).backward()
            acts = model.hidden_activations(x)  # depth arrays of (B, width)
        linears = [layer for layer in model.layers if isinstance(layer, Linear)]
        for i, act in enumerate(acts, start=1):
            rows.append(
                {
                    "scheme": scheme,
                    "layer": i,
                    "activation_std": float(act.std()),
                    "dead_share": float((act.max(axis=0) <= 0).mean()),
                    "weight_grad_norm": float(
                        np.linalg.norm(linears[i - 1].weight.grad)
                    ),
                }
            )
    return rows


def dead_relu_share(model: MLP, x: np.ndarray) -> float:
    """Share of hidden ReLU units that output 0 for every row of ``x``."""
    with no_grad():
        acts = model.hidden_activations(Tensor(x))
    dead = [(a.max(axis=0) <= 0) for a in acts]  # per unit: never active
    return float(np.concatenate(dead).mean()) if dead else 0.0


def distinct_units(model: MLP) -> int:
    """Distinct columns of the first weight matrix (1 means every unit is the same)."""
    first = next(layer for layer in model.layers if isinstance(layer, Linear))
    return len(np.unique(np.round(first.weight.data, 10), axis=1).T)


def init_training(
    data: DigitsData, config: TrainConfig, schemes: Sequence[str] = SCHEMES
) -> list[dict[str, Any]]:
    """Train the same net from each initialisation; one row per scheme."""
    rows = []
    for scheme in schemes:
        result = train(replace(config, init=scheme), data)
        rows.append(
            {
                "init": scheme,
                "first_step_loss": result.step_loss[0],
                "final_loss": result.epoch_loss[-1],
                "test_accuracy": result.final_test_accuracy,
                "dead_relu_share": dead_relu_share(result.model, data.x_train),
                "distinct_first_layer_units": distinct_units(result.model),
            }
        )
    return rows


def constant_init_symmetry(data: DigitsData, config: TrainConfig) -> dict[str, Any]:
    """Every weight 0.05: do the hidden units ever become different?"""
    model = MLP((N_FEATURES, *config.hidden, N_CLASSES), init="he", seed=config.seed)
    for layer in model.layers:
        if isinstance(layer, Linear):
            layer.weight.data = np.full(layer.weight.shape, 0.05)
    optimizer = Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    with threadpool_limits(limits=1):
        for _ in range(config.epochs):
            train_epoch(
                model, optimizer, data.x_train, data.y_train, config.batch_size, rng
            )
    return {
        "init": "constant 0.05",
        "distinct_first_layer_units": distinct_units(model),
        "test_accuracy": accuracy(model, data.x_test, data.y_test),
    }


def dead_relus_by_learning_rate(
    data: DigitsData, config: TrainConfig, lrs: Sequence[float]
) -> list[dict[str, Any]]:
    """Plain SGD at rising learning rates: how many ReLUs die, what accuracy is left."""
    rows = []
    for lr in lrs:
        with np.errstate(over="ignore", invalid="ignore"):  # large lr may diverge
            result = train(replace(config, optimizer="sgd", momentum=0.0, lr=lr), data)
        final = result.epoch_loss[-1]
        diverged = not np.isfinite(final)
        rows.append(
            {
                "lr": lr,
                "diverged": diverged,
                "dead_relu_share": float("nan")
                if diverged
                else dead_relu_share(result.model, data.x_train),
                "final_loss": final,
                "test_accuracy": result.final_test_accuracy,
            }
        )
    return rows


def softmax_overflow(
    scales: Sequence[float] = (1, 10, 50, 100, 300, 700, 710, 1e3, 1e4),
) -> list[dict[str, Any]]:
    """Cross-entropy of logits s·[1, 0, −1], naive against stable, per scale s.

    Two ways the naive formula breaks: exp(s) overflows to inf (inf/inf = NaN)
    when the target is the top class, and the target's probability underflows
    to 0 (log 0 = −inf) when it is the bottom class.
    """
    rows = []
    top, bottom = np.array([0]), np.array([2])
    for s in scales:
        logits = np.array([[1.0, 0.0, -1.0]]) * s  # (1, 3)
        reference = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(bottom))
        rows.append(
            {
                "logit_scale": s,
                "naive64_top": naive_cross_entropy(logits, top),
                "naive32_top": naive_cross_entropy(logits.astype(np.float32), top),
                "stable_top": cross_entropy(Tensor(logits), top).item(),
                "naive64_bottom": naive_cross_entropy(logits, bottom),
                "stable_bottom": cross_entropy(Tensor(logits), bottom).item(),
                "torch_bottom": float(reference),
            }
        )
    return rows


def softmax_gradient_identity(seed: int = 0) -> float:
    """max |∂CE/∂logits − (softmax − onehot)/N| on random logits."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(32, 10)) * 4  # (N, C)
    targets = rng.integers(0, 10, size=32)
    x = Tensor(logits, requires_grad=True)
    cross_entropy(x, targets).backward()
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax = shifted / shifted.sum(axis=1, keepdims=True)
    expected = (softmax - np.eye(10)[targets]) / len(targets)
    return float(np.abs(x.grad - expected).max())


def graph_agreement(n_graphs: int, seed: int = 0) -> dict[str, float]:
    """Max gradient error over random graphs: engine vs torch, central differences vs torch."""
    rng = np.random.default_rng(seed)
    engine_err, numeric_err, relu_graphs = 0.0, 0.0, 0
    for _ in range(n_graphs):
        graph, inputs = graphs.rng_graph(rng)
        relu_graphs += any(step.op == "relu" for step in graph.steps)
        result = gradcheck.gradcheck(graph, inputs, reference="torch")
        engine_err = max(engine_err, result.max_abs_err)
    for _ in range(max(1, n_graphs // 4)):  # 2 evaluations per input element: slower
        graph, inputs = graphs.rng_graph(rng, ops=graphs.SMOOTH_OPS)
        numeric = gradcheck.numerical_gradient(graph, inputs)
        want = gradcheck.torch_gradients(graph, inputs)
        for n, w in zip(numeric, want, strict=True):
            numeric_err = max(numeric_err, float(np.abs(n - w).max(initial=0.0)))
    return {
        "graphs": n_graphs,
        "graphs_with_relu": relu_graphs,
        "engine_vs_torch_max_abs_err": engine_err,
        "central_diff_vs_torch_max_abs_err": numeric_err,
    }


def finite_difference_error(
    epsilons: Sequence[float], seed: int = 3
) -> list[dict[str, Any]]:
    """Max error of central and forward differences against torch, per step ε."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(4, 3))
    x = rng.normal(size=(5, 4))

    def f(a: Any, b: Any) -> Any:  # a small tanh layer with a smooth loss
        h = (a @ b).tanh()  # (5, 3)
        return (h * h).sum() + (h.exp()).mean()

    want = gradcheck.torch_gradients(f, [x, w])
    base = gradcheck.value(f, [x, w])
    rows = []
    for eps in epsilons:
        central = gradcheck.numerical_gradient(f, [x, w], eps=eps)
        forward = []
        for k in range(2):
            arrays = [x.copy(), w.copy()]
            grad = np.zeros_like(arrays[k])
            for i in np.ndindex(arrays[k].shape):
                arrays[k][i] += eps
                grad[i] = (gradcheck.value(f, arrays) - base) / eps
                arrays[k][i] -= eps
            forward.append(grad)
        rows.append(
            {
                "eps": eps,
                "central_err": max(
                    float(np.abs(c - t).max())
                    for c, t in zip(central, want, strict=True)
                ),
                "forward_err": max(
                    float(np.abs(c - t).max())
                    for c, t in zip(forward, want, strict=True)
                ),
            }
        )
    return rows


def overfit_one_batch(
    data: DigitsData, steps: int = 150, size: int = 32
) -> dict[str, float]:
    """Train on one fixed batch of ``size`` digits: a correct net drives the loss to ~0."""
    model = MLP((N_FEATURES, 128, N_CLASSES), seed=0)
    optimizer = Adam(model.parameters(), lr=1e-2)
    x, y = Tensor(data.x_train[:size]), data.y_train[:size]
    losses = []
    with threadpool_limits(limits=1):
        for _ in range(steps):
            loss = cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return {
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "batch_accuracy": accuracy(model, data.x_train[:size], y),
    }


def loss_at_init(data: DigitsData, last_layer_scale: float = 0.01) -> dict[str, float]:
    """Loss on the training set at init: He everywhere, and He with a shrunk last layer.

    A network that knows nothing should predict uniformly: loss ln C.
    """
    model = MLP((N_FEATURES, 128, N_CLASSES), init="he", seed=0)
    x, y = Tensor(data.x_train), data.y_train
    with no_grad():
        plain = cross_entropy(model(x), y).item()
        last = [layer for layer in model.layers if isinstance(layer, Linear)][-1]
        last.weight.data = last.weight.data * last_layer_scale
        shrunk = cross_entropy(model(x), y).item()
    return {
        "uniform_guess": float(np.log(N_CLASSES)),
        "he": plain,
        "he_last_layer_scaled": shrunk,
        "last_layer_scale": last_layer_scale,
    }


def blas_thread_timing(data: DigitsData, config: TrainConfig) -> dict[str, float]:
    """Training seconds with 1 BLAS thread against the library's default."""
    one = train(replace(config, blas_threads=1), data).train_seconds
    default = train(replace(config, blas_threads=None), data).train_seconds
    return {"one_thread_s": one, "default_threads_s": default, "ratio": default / one}

"""Train an MLP on scikit-learn's handwritten digits with this engine.

The digits dataset ships inside scikit-learn (1,797 8×8 images, 10 classes,
no download). The loop is the one every framework runs::

    for each epoch: shuffle; for each minibatch:
        logits = model(x); loss = cross_entropy(logits, y)
        optimizer.zero_grad(); loss.backward(); optimizer.step()

Run it::

    python -m labs.autograd.train          # one run with the defaults, logged
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from threadpoolctl import threadpool_limits

from labs.autograd.loss import cross_entropy
from labs.autograd.nn import MLP, Activation, InitScheme
from labs.autograd.optim import SGD, Adam, Optimizer
from labs.autograd.tensor import Tensor, no_grad

log = logging.getLogger(__name__)

N_FEATURES, N_CLASSES = 64, 10


@dataclass(frozen=True)
class TrainConfig:
    hidden: tuple[int, ...] = (128,)  # hidden layer widths
    activation: Activation = "relu"  # after every hidden layer
    init: InitScheme = "he"  # weight initialisation
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = 2e-3  # Adam's step size; try 0.05 for SGD with momentum
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0  # L2, added to the gradient
    batch_size: int = 64  # examples per step
    epochs: int = 30  # passes over the training set
    seed: int = 0  # weights and shuffling
    # BLAS threads for the matmuls: small (64×128) products lose more to thread
    # hand-off than they gain, badly so on a busy machine. None = library default.
    blas_threads: int | None = 1


@dataclass(frozen=True)
class DigitsData:
    x_train: np.ndarray  # (N_train, 64), standardised with training statistics
    y_train: np.ndarray  # (N_train,) labels 0..9
    x_test: np.ndarray  # (N_test, 64)
    y_test: np.ndarray  # (N_test,)


@dataclass
class TrainResult:
    model: MLP
    epoch_loss: list[float] = field(default_factory=list)  # mean minibatch loss
    train_accuracy: list[float] = field(default_factory=list)  # after each epoch
    test_accuracy: list[float] = field(default_factory=list)  # after each epoch
    step_loss: list[float] = field(default_factory=list)  # every minibatch
    train_seconds: float = 0.0  # the training steps only, without evaluation

    @property
    def final_test_accuracy(self) -> float:
        return self.test_accuracy[-1]


def load_digits_data(test_fraction: float = 0.25, seed: int = 0) -> DigitsData:
    """The digits, split stratified into train and test, standardised per pixel.

    The mean and standard deviation come from the training split only (pixels
    that never vary keep std 1), so nothing about the test set leaks in.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    mean = x_train.mean(axis=0)  # (64,)
    std = x_train.std(axis=0)  # (64,)
    std[std == 0] = 1.0  # constant border pixels
    return DigitsData(
        x_train=(x_train - mean) / std,
        y_train=y_train.astype(np.int64),
        x_test=(x_test - mean) / std,
        y_test=y_test.astype(np.int64),
    )


def make_optimizer(config: TrainConfig, model: MLP) -> Optimizer:
    if config.optimizer == "adam":
        return Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use 'sgd' or 'adam'.")


def accuracy(model: MLP, x: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose highest logit is the label."""
    with no_grad():  # evaluation needs no graph
        logits = model(Tensor(x)).data  # (N, 10)
    return float((logits.argmax(axis=1) == y).mean())


def train_epoch(
    model: MLP,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
) -> list[float]:
    """One pass over (x, y) in shuffled minibatches; one optimiser step per batch.

    Args:
        model: the network, updated in place through ``optimizer``.
        optimizer: holds ``model.parameters()``.
        x: (N, D) inputs; y: (N,) integer labels.
        batch_size: rows per step (the last batch may be smaller).
        rng: draws the epoch's permutation.

    Returns:
        The loss of every step, in order.
    """
    # BEGIN SOLUTION m4: shuffle with rng.permutation, then per minibatch: forward, cross_entropy, zero_grad, backward, step; collect loss.item()
    losses = []
    order = rng.permutation(len(x))
    for begin in range(0, len(x), batch_size):
        batch = order[begin : begin + batch_size]
        logits = model(Tensor(x[batch]))  # (B, D) -> (B, C)
        loss = cross_entropy(logits, y[batch])  # scalar
        optimizer.zero_grad()  # gradients accumulate otherwise
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    # END SOLUTION


def train(config: TrainConfig, data: DigitsData) -> TrainResult:
    """Train an MLP (64 → hidden → 10) by minibatch gradient descent.

    Args:
        config: the model, optimiser and schedule.
        data: the digits split.

    Returns:
        The trained model with the loss and accuracy after every epoch.
    """
    if config.batch_size < 1 or config.epochs < 1:
        raise ValueError(
            f"batch_size and epochs must be ≥ 1, got {config.batch_size}, "
            f"{config.epochs}."
        )
    rng = np.random.default_rng(config.seed)  # shuffling
    model = MLP(
        (N_FEATURES, *config.hidden, N_CLASSES),
        activation=config.activation,
        init=config.init,
        seed=config.seed,
    )
    optimizer = make_optimizer(config, model)
    result = TrainResult(model)
    x, y = data.x_train, data.y_train
    with threadpool_limits(limits=config.blas_threads):
        for epoch in range(config.epochs):
            started = time.perf_counter()
            losses = train_epoch(model, optimizer, x, y, config.batch_size, rng)
            result.train_seconds += time.perf_counter() - started
            result.step_loss.extend(losses)
            result.epoch_loss.append(float(np.mean(losses)))
            result.train_accuracy.append(accuracy(model, x, y))
            result.test_accuracy.append(accuracy(model, data.x_test, data.y_test))
            log.debug(
                "epoch %d loss %.4f test acc %.4f",
                epoch,
                result.epoch_loss[-1],
                result.test_accuracy[-1],
            )
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    outcome = train(TrainConfig(), load_digits_data())
    log.info(
        "test accuracy %.4f after %d epochs, %.2f s of training",
        outcome.final_test_accuracy,
        len(outcome.test_accuracy),
        outcome.train_seconds,
    )

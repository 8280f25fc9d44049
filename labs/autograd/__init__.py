"""Lab 6 — autograd: a numpy tensor autograd engine, layers, optimisers, training.

The public API, re-exported::

    from labs.autograd import Tensor, MLP, cross_entropy, Adam, train
"""

from labs.autograd.loss import cross_entropy, log_softmax
from labs.autograd.nn import MLP, Linear, Module, ReLU, Tanh, init_weight
from labs.autograd.optim import SGD, Adam, Optimizer
from labs.autograd.tensor import (
    Function,
    Tensor,
    no_grad,
    topological_order,
    unbroadcast,
)
from labs.autograd.train import TrainConfig, load_digits_data, train

__all__ = [
    "MLP",
    "SGD",
    "Adam",
    "Function",
    "Linear",
    "Module",
    "Optimizer",
    "ReLU",
    "Tanh",
    "Tensor",
    "TrainConfig",
    "cross_entropy",
    "init_weight",
    "load_digits_data",
    "log_softmax",
    "no_grad",
    "topological_order",
    "train",
    "unbroadcast",
]

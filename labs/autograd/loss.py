"""Softmax cross-entropy, the numerically stable way, and the naive way for contrast.

For logits x (one row, C classes) and target class y:

    log_softmax(x)_j = x_j - log Σ_k exp(x_k)
    CE(x, y)         = -log_softmax(x)_y
    ∂CE/∂x           = softmax(x) - onehot(y)

The naive formula computes exp(x_k) first, which overflows to inf for
x_k > ~709.78 in float64 (and > ~88.7 in float32): inf/inf is NaN. Because
log_softmax(x - c) = log_softmax(x) for any constant c, subtracting the row
maximum first makes every exp(...) ≤ 1 and the sum ≥ 1, so nothing overflows
and the log never sees 0. The shift is a constant: no gradient flows through
it, and none needs to.
"""

from __future__ import annotations

import numpy as np

from labs.autograd.tensor import Tensor


def log_softmax(logits: Tensor, axis: int = -1) -> Tensor:
    """log softmax along ``axis``, stable for any finite logits.

    Args:
        logits: (N, C) scores (any shape; ``axis`` is the class axis).
        axis: the class axis.
    """
    if not -logits.ndim <= axis < logits.ndim:
        raise ValueError(
            f"axis {axis} is out of range for logits of shape {logits.shape}."
        )
    # BEGIN SOLUTION m3: subtract the (constant) max along axis, then x - log(sum(exp(x)))
    shift = logits.data.max(axis=axis, keepdims=True)  # (N, 1): a constant
    shifted = logits - shift  # (N, C), every entry ≤ 0, so exp(...) ≤ 1
    log_sum = shifted.exp().sum(axis=axis, keepdims=True).log()  # (N, 1), ≥ 0
    return shifted - log_sum  # (N, C)
    # END SOLUTION


def check_targets(logits: Tensor, targets: np.ndarray) -> np.ndarray:
    """Validate (N, C) logits against N integer class labels; return the labels."""
    targets = np.asarray(targets)
    if logits.ndim != 2:
        raise ValueError(
            f"cross_entropy expects logits of shape (N, C), got {logits.shape}; "
            "reshape to (-1, C) first."
        )
    n, classes = logits.shape
    if targets.shape != (n,):
        raise ValueError(
            f"targets must have shape ({n},), one class per row of logits, got "
            f"{targets.shape}."
        )
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(
            f"targets must be integer class labels, got dtype {targets.dtype}; "
            "use y.astype(int)."
        )
    if n and (targets.min() < 0 or targets.max() >= classes):
        raise ValueError(
            f"targets must lie in [0, {classes - 1}] for {classes} classes, got "
            f"values from {targets.min()} to {targets.max()}."
        )
    return targets


def cross_entropy(logits: Tensor, targets: np.ndarray) -> Tensor:
    """Mean cross-entropy of (N, C) logits against N integer labels.

    CE = -(1/N) Σ_i log_softmax(logits)_{i, y_i}; matches
    ``torch.nn.functional.cross_entropy`` with its default mean reduction.
    """
    targets = check_targets(logits, targets)
    n, classes = logits.shape
    if n == 0:
        raise ValueError("cross_entropy of an empty batch is undefined; pass ≥ 1 row.")
    # BEGIN SOLUTION m3: pick each row's target log-probability with a one-hot mask, average, negate
    one_hot = np.zeros((n, classes))
    one_hot[np.arange(n), targets] = 1.0  # (N, C)
    return -(log_softmax(logits, axis=1) * one_hot).sum() / n
    # END SOLUTION


def naive_softmax(logits: np.ndarray) -> np.ndarray:
    """exp(x) / Σ exp(x) as written in textbooks: overflows for large logits."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(logits)  # inf once a logit passes ~709.78
        return e / e.sum(axis=-1, keepdims=True)  # inf/inf = NaN


def naive_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """-mean log(naive_softmax(x)_y): NaN or inf where the stable version is finite."""
    logits = np.asarray(logits)  # keeps float32 as float32: it overflows sooner
    probs = naive_softmax(logits)
    picked = probs[np.arange(len(targets)), targets]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.log(picked).mean())

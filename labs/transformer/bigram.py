"""The bigram baseline: predict the next character from the current one by counting.

``P(b | a) = (count(a → b) + α) / (count(a) + α·V)``, fitted on the training
text with add-α smoothing (so a pair never seen in training still gets some
probability). It is the best model that looks at one character of context,
and the bar a transformer must clear to show it uses more: its loss is the
cross-entropy ``−mean log P(x_{t+1} | x_t)`` over the validation text, in
nats, the same unit as the transformer's loss.

Check it: ``labkit check transformer`` (milestone m3).
"""

from __future__ import annotations

import torch
from torch import Tensor


def fit_bigram(ids: Tensor, vocab_size: int, alpha: float = 1.0) -> Tensor:
    """Log-probabilities of the next token given the current one.

    Args:
        ids: training token ids, 1-D.
        vocab_size: ``V``.
        alpha: add-α smoothing, ``> 0``.

    Returns:
        ``(V, V)`` float64 tensor; row ``a`` is ``log P(· | a)`` and sums to 1
        after ``exp``.
    """
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(
            f"ids must be 1-D with at least 2 tokens, got shape {tuple(ids.shape)}."
        )
    if alpha <= 0:
        raise ValueError(
            f"alpha must be > 0 so every pair has some probability, got {alpha}."
        )
    if int(ids.max()) >= vocab_size or int(ids.min()) < 0:
        raise ValueError(
            f"token ids must lie in [0, {vocab_size}), got [{int(ids.min())}, {int(ids.max())}]."
        )
    # BEGIN SOLUTION m3: count each (current, next) pair, add alpha, normalise each row, take the log
    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)  # (V, V)
    ones = torch.ones(len(ids) - 1, dtype=torch.float64)
    counts.index_put_((ids[:-1], ids[1:]), ones, accumulate=True)
    smoothed = counts + alpha  # (V, V)
    return torch.log(smoothed / smoothed.sum(dim=1, keepdim=True))  # (V, V)
    # END SOLUTION


def bigram_loss(log_probs: Tensor, ids: Tensor) -> float:
    """Mean negative log-likelihood ``−mean_t log P(ids[t+1] | ids[t])`` in nats."""
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(
            f"ids must be 1-D with at least 2 tokens, got shape {tuple(ids.shape)}."
        )
    # BEGIN SOLUTION m3: look up log P(next | current) for every consecutive pair and average its negative
    return float(-log_probs[ids[:-1], ids[1:]].mean())
    # END SOLUTION

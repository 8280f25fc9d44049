"""Why attention divides by √d: softmax saturation, measured.

If the entries of ``q`` and ``k`` are independent with mean 0 and variance 1,
the score ``q·k = Σ_{i=1..d} q_i k_i`` has variance ``d``. Without scaling,
scores spread further apart as the head grows, the softmax puts almost all
its weight on the largest score (a near one-hot row), and its Jacobian
``diag(p) − p pᵀ`` goes to zero: hardly any gradient reaches ``q`` and ``k``.
Dividing by ``√d`` keeps the score variance at 1 for every ``d``.

:func:`softmax_saturation` measures this with random queries and keys; the
results page (``labkit run transformer``) shows its table and plot.
"""

from __future__ import annotations

import math

import torch

from labs.transformer.attention import attention_entropy, attention_weights


def softmax_jacobian_norm(weights: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of ``∂softmax/∂scores = diag(p) − p pᵀ`` for each row ``p``.

    ``‖diag(p) − p pᵀ‖²_F = Σ p_i² − 2 Σ p_i³ + (Σ p_i²)²``; 0 for a one-hot row.
    """
    p2 = (weights**2).sum(dim=-1)
    p3 = (weights**3).sum(dim=-1)
    return torch.sqrt((p2 - 2 * p3 + p2**2).clamp_min(0.0))


def softmax_saturation(
    dims: tuple[int, ...] = (4, 16, 64, 256, 1024),
    *,
    n_keys: int = 64,
    n_queries: int = 512,
    seed: int = 0,
) -> list[dict[str, float | int | bool]]:
    """Attention statistics for random unit-variance q and k, with and without 1/√d.

    Returns:
        One row per ``(d, scaled)``: the standard deviation of the scores, the
        mean largest weight in a row, the mean entropy as a fraction of the
        uniform entropy ``ln n_keys``, the fraction of saturated rows (largest
        weight above 0.99) and the median softmax Jacobian norm (a median,
        because the few unsaturated rows would dominate a mean).
    """
    generator = torch.Generator().manual_seed(seed)
    rows: list[dict[str, float | int | bool]] = []
    for d in dims:
        q = torch.randn(n_queries, 1, d, generator=generator)  # (N, 1, d)
        k = torch.randn(n_queries, n_keys, d, generator=generator)  # (N, T, d)
        for scaled in (True, False):
            scale = 1.0 / math.sqrt(d) if scaled else 1.0
            scores = (q @ k.transpose(-2, -1)) * scale  # (N, 1, T)
            weights = attention_weights(q, k, scale=scale)  # (N, 1, T)
            rows.append(
                {
                    "d": d,
                    "scaled": scaled,
                    "score_std": float(scores.std()),
                    "max_weight": float(weights.max(dim=-1).values.mean()),
                    "entropy_fraction": float(
                        attention_entropy(weights).mean() / math.log(n_keys)
                    ),
                    "saturated_fraction": float(
                        (weights.max(dim=-1).values > 0.99).float().mean()
                    ),
                    "jacobian_norm": float(softmax_jacobian_norm(weights).median()),
                }
            )
    return rows

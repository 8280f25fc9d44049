"""Train the character-level GPT: AdamW, warmup then cosine decay, gradient clipping.

Read top to bottom like nanoGPT's ``train.py``: the knobs, one optimisation
step, the validation loss, the loop. Debug training the way interviewers
expect: check the loss at initialisation (≈ ``ln V`` for uniform guesses),
overfit one batch to near zero, then train on the corpus and compare the
validation loss with the bigram baseline.

Run it: ``labkit run transformer``; check it: ``labkit check transformer`` (m3).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from labs.transformer.corpus import get_batch
from labs.transformer.model import GPT


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000  # optimisation steps
    batch_size: int = 32  # windows per step
    block_size: int = 128  # tokens per window (at most the model's block_size)
    learning_rate: float = 3e-3  # peak AdamW learning rate
    min_lr_fraction: float = 0.1  # cosine decays to this fraction of the peak
    warmup_steps: int = 50  # linear warmup: Adam's moment estimates are noisy at first
    weight_decay: float = 0.01  # AdamW decoupled decay, on 2-D tensors only
    grad_clip: float = 1.0  # clip the global gradient norm (0 = off)
    eval_every: int = 100  # steps between validation losses
    eval_tokens: int | None = None  # validation tokens per evaluation (None = all)
    seed: int = 0  # batches and nothing else: the model is seeded by its creator


@dataclass
class TrainHistory:
    """What a run measured: losses by step, and throughput."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # mean over the interval
    val_loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)  # mean pre-clip norm
    elapsed_s: float = 0.0
    tokens_per_s: float = 0.0  # training tokens processed per second


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warmup to the peak, then cosine decay to ``min_lr_fraction`` of it."""
    peak = config.learning_rate
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = config.min_lr_fraction * peak
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: GPT, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on 2-D tensors (matrices, embeddings), none on biases or norms."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.95))


def train_step(
    model: GPT, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, grad_clip: float
) -> tuple[float, float]:
    """One optimisation step on the batch ``(x, y)``, each ``(B, T)``.

    Returns:
        ``(loss, grad_norm)``: the batch loss before the update and the global
        gradient L2 norm before clipping (watch it for explosions).
    """
    # BEGIN SOLUTION m3: forward with targets, zero the grads, backward, clip the global norm (if grad_clip > 0), optimizer step
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    else:
        grads = [p.grad.norm() for p in model.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack(grads))
    optimizer.step()
    return loss.item(), norm.item()
    # END SOLUTION


@torch.no_grad()
def evaluate(
    model: GPT, ids: Tensor, block_size: int, max_tokens: int | None = None
) -> float:
    """Mean next-token cross-entropy (nats) over consecutive windows of ``ids``.

    Windows start at ``0, T, 2T, …`` so every token (after the first) is a
    target once, as in :func:`~labs.transformer.bigram.bigram_loss`.
    """
    if max_tokens is not None:
        ids = ids[: max_tokens + 1]
    n_windows = (len(ids) - 1) // block_size
    if n_windows < 1:
        raise ValueError(
            f"{len(ids)} tokens make no window of {block_size} + 1; evaluate on more text."
        )
    usable = n_windows * block_size
    x = ids[:usable].view(n_windows, block_size)  # (N, T)
    y = ids[1 : usable + 1].view(n_windows, block_size)  # (N, T)
    total = 0.0
    was_training = model.training
    model.eval()
    for start in range(0, n_windows, 64):
        _, loss = model(x[start : start + 64], y[start : start + 64])
        total += float(loss) * len(x[start : start + 64])
    model.train(was_training)
    return total / n_windows


def train(
    model: GPT,
    train_ids: Tensor,
    val_ids: Tensor | None,
    config: TrainConfig,
    *,
    on_eval: Callable[[int, float, float | None], None] | None = None,
) -> TrainHistory:
    """Train ``model`` in place and return its history.

    Args:
        model: the GPT to train.
        train_ids: training token ids, 1-D.
        val_ids: validation ids, or ``None`` to skip validation.
        config: the knobs.
        on_eval: called as ``on_eval(step, train_loss, val_loss)`` at each
            evaluation (for logging).
    """
    if config.block_size > model.config.block_size:
        raise ValueError(
            f"TrainConfig.block_size={config.block_size} exceeds the model's "
            f"context window {model.config.block_size}."
        )
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = make_optimizer(model, config)
    history = TrainHistory()
    losses: list[float] = []
    norms: list[float] = []
    model.train()
    started = time.perf_counter()
    eval_time = 0.0
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        x, y = get_batch(train_ids, config.batch_size, config.block_size, generator)
        loss, norm = train_step(model, optimizer, x, y, config.grad_clip)
        losses.append(loss)
        norms.append(norm)
        last = step == config.steps - 1
        if (step + 1) % config.eval_every == 0 or last:
            eval_start = time.perf_counter()
            val = (
                evaluate(model, val_ids, config.block_size, config.eval_tokens)
                if val_ids is not None
                else None
            )
            eval_time += time.perf_counter() - eval_start
            history.steps.append(step + 1)
            history.train_loss.append(sum(losses) / len(losses))
            history.grad_norm.append(sum(norms) / len(norms))
            if val is not None:
                history.val_loss.append(val)
            if on_eval is not None:
                on_eval(step + 1, history.train_loss[-1], val)
            losses, norms = [], []
    history.elapsed_s = time.perf_counter() - started
    train_time = max(history.elapsed_s - eval_time, 1e-9)
    history.tokens_per_s = (
        config.steps * config.batch_size * config.block_size / train_time
    )
    return history

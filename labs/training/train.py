"""m3 — training the click model: seeded, deterministic, with early stopping.

    from labs.training import TrainConfig, fit
    result = fit(splits.train, splits.valid, data.features, data.defaults, TrainConfig())
    result.predictor.predict(splits.test)        # click probabilities
    result.history                               # one EpochLog per epoch

Minibatch AdamW on the log loss, one pass over a seeded shuffle per epoch,
the learning rate multiplied by ``lr_decay`` after each. After every epoch
the validation AUC decides: a new best is kept (a copy of the weights),
``patience`` epochs without one stop the run, and the best weights are
restored.

**Same seed, same weights.** ``deterministic(seed, threads)`` seeds torch,
fixes the intra-op thread count (a float sum split over a different number
of threads rounds differently) and turns on
``torch.use_deterministic_algorithms``. The shuffle uses its own
``torch.Generator``, so nothing else that draws random numbers can shift
it. Two runs give bit-identical ``state_dict`` tensors.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from labs.training.features import Encoded, Preprocessor
from labs.training.metrics import log_loss, roc_auc
from labs.training.model import ClickModel
from labs.training.predictor import ClickPredictor, logits_in_blocks


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run (all of it goes into the registry's metadata)."""

    embed_dim: int = 8  # size of the user and item vectors
    hidden: tuple[int, ...] = (64, 32)  # MLP hidden widths
    interaction: str = "additive"  # "additive" or "concat" (see model.py)
    lr: float = 5e-3  # AdamW learning rate of the first epoch
    # The learning rate is multiplied by this after every epoch. At a constant rate
    # the validation AUC on `small` peaked after one epoch and then wandered
    # (Adam's steps keep refitting noise); decaying it lets later epochs settle.
    lr_decay: float = 0.7
    weight_decay: float = 1e-4  # AdamW decay of the MLP weights only
    embed_l2: float = 0.1  # penalty on the embedding rows a batch touches
    batch_size: int = 512  # rows per optimiser step
    max_epochs: int = 8  # upper bound (the decayed rate is ~8% of lr by then)
    patience: int = 3  # epochs without a better validation AUC before stopping
    # Training rows an id needs for its own embedding row. The rarer ids train
    # the shared OOV row instead, which is what new users (about 12% of the
    # validation rows on `small`) are scored with.
    min_count: int = 20
    seed: int = 0  # weights, shuffles: everything random
    threads: int = 1  # torch intra-op threads while training (fixed: determinism)

    def replace(self, **changes: Any) -> TrainConfig:
        if "hidden" in changes:
            changes["hidden"] = tuple(int(h) for h in changes["hidden"])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"unknown TrainConfig fields {unknown}; valid: {sorted(known)}."
            )
        return cls().replace(**d)


@dataclass
class EpochLog:
    """What one epoch did."""

    epoch: int
    train_loss: float
    valid_auc: float
    valid_log_loss: float
    seconds: float  # the optimisation pass only (no validation)
    samples_per_s: float


@dataclass
class TrainResult:
    """A trained predictor (best epoch's weights) and how it got there."""

    predictor: ClickPredictor
    config: TrainConfig
    history: list[EpochLog]
    best_epoch: int
    stopped_early: bool

    @property
    def best_valid_auc(self) -> float:
        return self.history[self.best_epoch - 1].valid_auc

    @property
    def samples_per_s(self) -> float:
        """Median training throughput over the epochs (rows per second)."""
        return float(np.median([h.samples_per_s for h in self.history]))


@contextmanager
def deterministic(seed: int, threads: int = 1) -> Iterator[None]:
    """Seed torch, fix the thread count, demand deterministic kernels; restore after."""
    saved_threads = torch.get_num_threads()
    saved_mode = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved_mode)
        torch.set_num_threads(saved_threads)


def build_model(
    n_users: int, n_items: int, n_dense: int, config: TrainConfig
) -> ClickModel:
    """A fresh :class:`ClickModel` for ``config`` (seed torch first)."""
    return ClickModel(
        n_users,
        n_items,
        n_dense,
        embed_dim=config.embed_dim,
        hidden=config.hidden,
        interaction=config.interaction,  # type: ignore[arg-type]
    )


def make_optimizer(model: ClickModel, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW: the MLP decays with ``weight_decay``; embeddings rely on ``embed_l2``.

    Decoupled weight decay shrinks *every* row at every step, also the rows
    of ids absent from the batch; the penalty in the loss shrinks only the
    rows a batch uses, in step with the data that moves them.
    """
    tables = [
        model.user_embedding.weight,
        model.item_embedding.weight,
        model.user_bias.weight,
        model.item_bias.weight,
    ]
    return torch.optim.AdamW(
        [
            {
                "params": list(model.mlp.parameters()),
                "weight_decay": config.weight_decay,
            },
            {"params": tables, "weight_decay": 0.0},
        ],
        lr=config.lr,
    )


@dataclass
class Tensors:
    """An :class:`Encoded` split as torch tensors (shared memory, no copy)."""

    user: torch.Tensor  # (n,) int64
    item: torch.Tensor  # (n,) int64
    dense: torch.Tensor  # (n, D) float32
    label: torch.Tensor  # (n,) float32

    @classmethod
    def of(cls, rows: Encoded) -> Tensors:
        if rows.label is None:
            raise ValueError("training rows need labels: encode(..., with_label=True).")
        return cls(
            torch.from_numpy(np.array(rows.user, dtype=np.int64)),
            torch.from_numpy(np.array(rows.item, dtype=np.int64)),
            torch.from_numpy(np.array(rows.dense, dtype=np.float32)),
            torch.from_numpy(np.array(rows.label, dtype=np.float32)),
        )

    def __len__(self) -> int:
        return len(self.label)


def train_epoch(
    model: nn.Module,
    rows: Tensors,
    order: torch.Tensor,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    embed_l2: float,
    core: ClickModel | None = None,
) -> float:
    """One pass over ``rows`` in ``order``; the mean training loss.

    Args:
        model: the network to call (a ``ClickModel``, or DDP around one).
        rows: the training rows.
        order: row indices in the order to visit them, shape ``(m,)``.
        batch_size: rows per optimiser step (the last batch may be smaller).
        optimizer: steps the parameters.
        embed_l2: weight of ``core.penalty`` in the loss.
        core: the ``ClickModel`` inside ``model`` (for the penalty); ``model``
            itself by default.

    Loss per batch: ``BCEWithLogits(logits, y) + embed_l2 · penalty``.
    """
    core = core if core is not None else model  # type: ignore[assignment]
    assert core is not None
    model.train()
    total, batches = 0.0, 0
    # BEGIN SOLUTION m3: for each batch of `order`: logits, BCE-with-logits + embed_l2 * core.penalty, zero_grad, backward, step; add the loss to `total` and count `batches`
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        user, item = rows.user[idx], rows.item[idx]
        logits = model(user, item, rows.dense[idx])  # (b,)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, rows.label[idx])
        if embed_l2:
            loss = loss + embed_l2 * core.penalty(user, item)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        batches += 1
    # END SOLUTION
    return total / max(batches, 1)


def validate(model: ClickModel, rows: Encoded) -> tuple[float, float]:
    """``(auc, log_loss)`` of ``model`` on labelled ``rows``."""
    assert rows.label is not None
    logits = logits_in_blocks(model, rows).astype(np.float64)
    probs = 1.0 / (1.0 + np.exp(-logits))
    return roc_auc(rows.label, probs), log_loss(rows.label, probs)


def fit_encoded(
    train: Encoded,
    valid: Encoded,
    n_users: int,
    n_items: int,
    config: TrainConfig,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> tuple[ClickModel, list[EpochLog], int, bool]:
    """Train on encoded rows; ``(model with the best weights, history, best_epoch, stopped_early)``.

    ``on_epoch`` sees every :class:`EpochLog` as it happens (Ray Tune reports
    through it; ASHA may end the trial there).
    """
    if len(train) == 0 or len(valid) == 0:
        raise ValueError(
            f"need training and validation rows, got {len(train)} and {len(valid)}."
        )
    with deterministic(config.seed, config.threads):
        model = build_model(n_users, n_items, train.dense.shape[1], config)
        optimizer = make_optimizer(model, config)
        shuffle = torch.Generator().manual_seed(config.seed)
        rows = Tensors.of(train)
        history: list[EpochLog] = []
        # BEGIN SOLUTION m3: epochs of train_epoch over torch.randperm(n, generator=shuffle), lr *= lr_decay, validate, append an EpochLog (and call on_epoch); keep a deep copy of the best state_dict (by valid AUC) as best_epoch; stop after `patience` epochs without a new best (stopped_early); load the best weights back
        best_auc, best_epoch, best_state, waited = -1.0, 0, None, 0
        stopped_early = False
        for epoch in range(1, config.max_epochs + 1):
            order = torch.randperm(len(rows), generator=shuffle)
            began = time.perf_counter()
            loss = train_epoch(
                model, rows, order, config.batch_size, optimizer, config.embed_l2
            )
            seconds = time.perf_counter() - began
            for group in optimizer.param_groups:
                group["lr"] *= config.lr_decay
            auc, ll = validate(model, valid)
            entry = EpochLog(epoch, loss, auc, ll, seconds, len(rows) / seconds)
            history.append(entry)
            if on_epoch is not None:
                on_epoch(entry)
            if auc > best_auc:
                best_auc, best_epoch, waited = auc, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
                if waited >= config.patience:
                    stopped_early = epoch < config.max_epochs
                    break
        assert best_state is not None
        model.load_state_dict(best_state)
        # END SOLUTION
    model.eval()
    return model, history, best_epoch, stopped_early


def fit(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    features: Sequence[str],
    defaults: Mapping[str, float],
    config: TrainConfig | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainResult:
    """Fit the preprocessing on ``train``, then train a :class:`ClickModel`.

    Args:
        train, valid: frames with ``user_id``, ``item_id``, ``clicked`` and
            every feature (e.g. ``Splits.train`` and ``Splits.valid``).
        features: the ``"view:feature"`` names, in model order.
        defaults: the store's declared defaults (see :class:`Preprocessor`).
        config: the knobs; :class:`TrainConfig` defaults when omitted.
        on_epoch: called with each epoch's :class:`EpochLog`.
    """
    config = config or TrainConfig()
    prep = Preprocessor.fit(train, features, defaults, config.min_count)
    model, history, best_epoch, stopped = fit_encoded(
        prep.encode(train, with_label=True),
        prep.encode(valid, with_label=True),
        prep.users.size,
        prep.items.size,
        config,
        on_epoch,
    )
    return TrainResult(
        ClickPredictor(model, prep), config, history, best_epoch, stopped
    )

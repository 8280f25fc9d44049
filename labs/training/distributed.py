"""m6 — data-parallel training with Ray Train: a ``TorchTrainer``, DDP over gloo on CPUs.

    from labs.training import train_data_parallel, train_single_process
    ddp = train_data_parallel(train_rows, sizes, config, epochs=3, num_workers=2)
    one = train_single_process(train_rows, sizes, config, epochs=3)
    ddp.samples_per_s / one.samples_per_s       # the speed-up; compare AUCs on valid

Every worker builds the same seeded model; ``prepare_model`` wraps it in
``DistributedDataParallel``, which averages the gradients of all workers in
``backward`` (an all-reduce over gloo). Each epoch all workers draw the same
seeded permutation and worker ``r`` of ``W`` takes rows ``r, r + W, ...``
(equal shards: a worker with one batch more would wait forever in the
all-reduce). Each worker steps on ``batch_size / W`` rows, so one
synchronised step still averages ``batch_size`` rows: the optimisation is
the single-process one, computed in ``W`` places.

The single-process reference runs the very same loop with ``W = 1``; the
speed-up and the AUC gap compare like with like. Rank 0 reports the final
weights as a checkpoint; the driver loads them weights-only.

On 2 cores each worker reserves 1 CPU and nothing else is reserved (the
Train controller takes none), so the two fit. ``RAY_ADDRESS`` runs the same
job on a cluster; ``storage_path`` must then be shared storage.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labs.training.features import Encoded
from labs.training.model import ClickModel
from labs.training.train import (
    Tensors,
    TrainConfig,
    build_model,
    deterministic,
    make_optimizer,
    train_epoch,
)


@dataclass
class ParallelRun:
    """A finished run: final weights and how fast the epochs went."""

    model: ClickModel
    workers: int
    epochs: int
    epoch_seconds: list[float]  # rank 0's optimisation time per epoch
    rows: int  # training rows per epoch (all workers together)
    wall_s: float  # including start-up (Ray workers, process group)
    speed_by_batch: dict[int, float] = field(
        default_factory=dict
    )  # rows/s per global batch

    @property
    def samples_per_s(self) -> float:
        """Rows per second over the epochs after the first (warm), median."""
        warm = self.epoch_seconds[1:] or self.epoch_seconds
        return self.rows / float(np.median(warm))


def run_epochs(
    model: torch.nn.Module,
    core: ClickModel,
    train: Encoded,
    config: TrainConfig,
    epochs: int,
    rank: int = 0,
    world: int = 1,
) -> tuple[list[float], int]:
    """``epochs`` passes over this worker's shard; ``(seconds per epoch, rows per epoch)``.

    Args:
        model: what to call (``core`` itself, or DDP around it).
        core: the ``ClickModel`` (its parameters and penalty).
        train: every training row (each worker holds all of them).
        config: ``batch_size`` is the *global* batch; each worker steps on
            ``batch_size // world`` rows.
        epochs: passes to make (no early stopping: DDP compares fixed budgets).
        rank, world: this worker's index and the number of workers.
    """
    rows = Tensors.of(train)
    optimizer = make_optimizer(core, config)
    shuffle = torch.Generator().manual_seed(config.seed)  # the same on every worker
    per_worker = max(1, config.batch_size // world)
    usable = (len(rows) // world) * world  # equal shards, equal step counts
    seconds = []
    # BEGIN SOLUTION m6: every epoch: the same seeded permutation on all workers, truncated to `usable`, this worker's shard [rank::world], one train_epoch with batch per_worker; time it
    for _ in range(epochs):
        order = torch.randperm(len(rows), generator=shuffle)[:usable]
        shard = order[rank::world]
        began = time.perf_counter()
        train_epoch(
            model, rows, shard, per_worker, optimizer, config.embed_l2, core=core
        )
        seconds.append(time.perf_counter() - began)
    # END SOLUTION
    return seconds, usable


def speed_sweep(
    wrap: Any,
    train: Encoded,
    sizes: tuple[int, int],
    config: TrainConfig,
    batches: list[int],
    rank: int = 0,
    world: int = 1,
) -> dict[int, float]:
    """Rows per second of one epoch at each global batch size, on a fresh model each.

    ``wrap(model)`` returns what to call: DDP around it, or the model itself.
    Larger batches mean fewer optimiser steps, so fewer all-reduces per row.
    """
    speed = {}
    for batch in batches:
        torch.manual_seed(config.seed)
        core = build_model(*sizes, train.dense.shape[1], config)
        seconds, rows = run_epochs(
            wrap(core), core, train, config.replace(batch_size=batch), 1, rank, world
        )
        speed[batch] = rows / seconds[0]
    return speed


def _worker_loop(params: dict[str, Any]) -> None:
    """The function every Ray Train worker runs (rank 0 reports the weights)."""
    import ray
    import ray.train
    import ray.train.torch

    config = TrainConfig.from_dict(params["config"])
    train = ray.get(params["train"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    with deterministic(config.seed, threads=1):
        core = build_model(*params["sizes"], train.dense.shape[1], config)
        # BEGIN SOLUTION m6: wrap the model for DDP (ray.train.torch.prepare_model), then seconds, rows = run_epochs(...) on this rank's shard
        model = ray.train.torch.prepare_model(core)
        seconds, rows = run_epochs(
            model, core, train, config, params["epochs"], rank, world
        )
        # END SOLUTION
        speed = speed_sweep(
            ray.train.torch.prepare_model,
            train,
            tuple(params["sizes"]),
            config,
            params["speed_batches"],
            rank,
            world,
        )
        metrics = {
            "epoch_seconds": seconds,
            "rows": rows,
            "world": world,
            "speed": {str(k): v for k, v in speed.items()},
        }
        with tempfile.TemporaryDirectory() as folder:
            # BEGIN SOLUTION m6: every rank reports `metrics`; rank 0 attaches a checkpoint folder holding model.pt (core.state_dict())
            checkpoint = None
            if rank == 0:
                torch.save(core.state_dict(), Path(folder) / "model.pt")
                checkpoint = ray.train.Checkpoint.from_directory(folder)
            ray.train.report(metrics, checkpoint=checkpoint)
            # END SOLUTION


def ddp_on_rank(spec: dict[str, Any]) -> dict[str, Any] | None:
    """One rank of the same loop under plain ``torch.distributed``, without Ray.

    Run on every rank of a gloo group by ``infra.torch_dist.launch`` (which
    joins the group first): the seeded model wrapped in
    ``DistributedDataParallel`` and :func:`run_epochs` on this rank's shard.
    Rank 0 returns ``{"state": core weights, "rows": rows per epoch}``; the
    others ``None``. It checks the sharding in seconds, where a
    ``TorchTrainer`` needs tens of them to start its workers.
    """
    import torch.distributed as dist

    config = TrainConfig.from_dict(spec["config"])
    train: Encoded = spec["train"]
    rank, world = dist.get_rank(), dist.get_world_size()
    with deterministic(config.seed, threads=1):
        core = build_model(*spec["sizes"], train.dense.shape[1], config)
        model = torch.nn.parallel.DistributedDataParallel(core)
        _, rows = run_epochs(model, core, train, config, spec["epochs"], rank, world)
    return {"state": core.state_dict(), "rows": rows} if rank == 0 else None


def train_data_parallel(
    train: Encoded,
    sizes: tuple[int, int],
    config: TrainConfig,
    epochs: int,
    *,
    num_workers: int = 2,
    cpus_per_worker: float = 1.0,
    storage_path: str | Path | None = None,
    speed_batches: list[int] | None = None,
) -> ParallelRun:
    """Train with a ``TorchTrainer`` of ``num_workers`` CPU workers; the final model.

    Args:
        train: encoded training rows (put once into Ray's object store).
        sizes: ``(users, items)`` embedding rows.
        config: the model's knobs; ``batch_size`` is the global batch.
        epochs: passes over the data.
        num_workers: DDP workers (processes).
        cpus_per_worker: Ray CPUs each worker reserves.
        storage_path: where Ray Train keeps the run and its checkpoint (an
            absolute path; shared storage on a cluster); ``data/ray_results``.
        speed_batches: global batch sizes to time one extra epoch at each
            (fresh models, after the run), for ``ParallelRun.speed_by_batch``.
    """
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from common.paths import data_dir
    from infra.ray_session import init_ray, train_poll_interval

    if num_workers < 1 or epochs < 1:
        raise ValueError(
            f"num_workers and epochs must be ≥ 1, got {num_workers}, {epochs}."
        )
    storage = Path(storage_path or data_dir() / "ray_results").resolve()
    storage.mkdir(parents=True, exist_ok=True)
    init_ray()
    began = time.perf_counter()
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={
            "config": config.to_dict(),
            "train": ray.put(train),
            "sizes": list(sizes),
            "epochs": epochs,
            "speed_batches": list(speed_batches or []),
        },
        scaling_config=ScalingConfig(
            num_workers=num_workers,
            use_gpu=False,
            resources_per_worker={"CPU": cpus_per_worker},
        ),
        run_config=RunConfig(
            name=f"ddp-{int(time.time() * 1000)}", storage_path=str(storage)
        ),
    )
    with train_poll_interval():
        result = trainer.fit()
    wall = time.perf_counter() - began
    if result.checkpoint is None:
        raise RuntimeError(f"the Ray Train run reported no checkpoint: {result.error}")
    model = build_model(*sizes, train.dense.shape[1], config)
    with result.checkpoint.as_directory() as folder:
        model.load_state_dict(torch.load(Path(folder) / "model.pt", weights_only=True))
    model.eval()
    metrics = result.metrics
    return ParallelRun(
        model,
        num_workers,
        epochs,
        list(metrics["epoch_seconds"]),
        int(metrics["rows"]),
        wall,
        {int(k): float(v) for k, v in metrics.get("speed", {}).items()},
    )


def train_single_process(
    train: Encoded,
    sizes: tuple[int, int],
    config: TrainConfig,
    epochs: int,
    speed_batches: list[int] | None = None,
) -> ParallelRun:
    """The same loop in this process with one worker: the baseline for the speed-up."""
    began = time.perf_counter()
    with deterministic(config.seed, threads=1):
        model = build_model(*sizes, train.dense.shape[1], config)
        seconds, rows = run_epochs(model, model, train, config, epochs)
        wall = time.perf_counter() - began
        speed = speed_sweep(
            lambda m: m, train, sizes, config, list(speed_batches or [])
        )
    model.eval()
    return ParallelRun(model, 1, epochs, seconds, rows, wall, speed)

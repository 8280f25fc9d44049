"""The same rank programs under Ray Train's ``TorchTrainer``: from a laptop to a cluster.

Nothing in this lab's rank code knows who started it: it reads its rank and
the world size from ``torch.distributed``'s default process group. Ray
Train's ``TorchTrainer`` sets that group up in each of its workers (gloo
here; NCCL with ``use_gpu=True``, one worker per GPU), so a rank program
runs there unchanged::

    out = run_on_ray("labs.distributed_training.programs:train_data_parallel",
                     spec, num_workers=2)        # RAY_ADDRESS=... for a cluster
    out[0]["state"]                              # rank 0's result

Workers reserve ``cpus_per_worker`` (fractional, so two fit on a 2-core
laptop beside the driver). Each rank's result comes back in its own file of
the run's checkpoint folder. For fault tolerance on a cluster, Ray Train's
``FailureConfig(max_failures=k)`` restarts the worker group the way
:func:`infra.torch_elastic.run_elastic` does here, and
:func:`~labs.distributed_training.elastic.train_resumable` resumes from its
own sharded checkpoint on shared storage.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any


def _worker(config: dict[str, Any]) -> None:
    """What every Ray Train worker runs: the rank program, then its result reported."""
    import ray.train
    import torch

    from infra.torch_rank import resolve

    result = resolve(config["program"])(config["spec"])
    rank = ray.train.get_context().get_world_rank()
    with tempfile.TemporaryDirectory() as folder:
        torch.save(result, Path(folder) / f"rank-{rank}.pt")
        checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report({"rank": rank}, checkpoint=checkpoint)


def run_on_ray(
    program: str,
    spec: Any,
    *,
    num_workers: int = 2,
    cpus_per_worker: float = 0.5,
    storage_path: str | Path | None = None,
) -> list[Any]:
    """Run ``program(spec)`` on ``num_workers`` Ray Train workers; each rank's result.

    Joins ``RAY_ADDRESS`` when it is set (``infra.ray_session.init_ray``),
    otherwise uses (or starts) a local Ray.
    """
    import torch
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from common.paths import data_dir
    from infra.ray_session import init_ray, train_poll_interval

    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}.")
    storage = Path(storage_path or data_dir() / "ray_results").resolve()
    storage.mkdir(parents=True, exist_ok=True)
    init_ray()
    trainer = TorchTrainer(
        _worker,
        train_loop_config={"program": program, "spec": spec},
        torch_config=TorchConfig(backend="gloo"),
        scaling_config=ScalingConfig(
            num_workers=num_workers,
            use_gpu=False,
            resources_per_worker={"CPU": cpus_per_worker},
        ),
        run_config=RunConfig(
            name=f"distributed-training-{time.time_ns()}", storage_path=str(storage)
        ),
    )
    with train_poll_interval():
        result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"the Ray Train run reported no checkpoint: {result.error}")
    with result.checkpoint.as_directory() as folder:
        return [
            torch.load(Path(folder) / f"rank-{rank}.pt", weights_only=False)
            for rank in range(num_workers)
        ]

"""m6 — a training job that survives a killed rank: checkpoint, restart, resume.

:func:`train_resumable` is the job every rank runs: data-parallel training
of lab 7's GPT with the ZeRO-1 optimiser of m3, a sharded checkpoint
(:mod:`~labs.distributed_training.checkpoint`) every ``every`` steps. When a
rank dies, the launcher (:func:`infra.torch_elastic.run_elastic`, like
``torchrun --max-restarts``; or Ray Train's ``FailureConfig``) stops every
rank and starts the job again on new processes; the job finds the newest
*whole* checkpoint, restores every rank's shard and carries on from the step
after it. Its final weights must equal those of a run that was never
interrupted, bit for bit: the same batches (seeded by step), the same
Adam state, the same order of additions.

    run, killed = run_with_kill(spec, kill={"rank": 1, "step": 7}, world_size=2)
    run.restarts, run.results[0]["params"]

The kill is real: the rank reaches the named point, writes its pid to a file
and waits; the parent reads the pid and sends SIGKILL.

Check it: ``labkit check distributed_training`` (m6).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import torch.distributed as dist

from infra.torch_elastic import ElasticRun, run_elastic
from labs.distributed_training.checkpoint import (
    latest_complete,
    load_shard,
    save_shard,
    write_manifest,
)
from labs.distributed_training.comm import Comm
from labs.distributed_training.workload import batch, build_model, rank_rows
from labs.distributed_training.zero import ShardedAdam

PAUSE_S = 60.0  # the longest a rank waits to be killed before going on


def restart_count() -> int:
    """Which attempt this is: 0 first, 1 after one restart (torchrun's variable)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))


def fault_point(spec: dict[str, Any], where: str, step: int) -> None:
    """Wait here to be killed if the spec's ``kill`` names this rank, point and step.

    Only in the attempt the kill names (default the first), so the restarted
    job runs through. The rank writes its pid to ``kill["pid_file"]``
    atomically, then sleeps until the parent's SIGKILL arrives.
    """
    kill = spec.get("kill")
    if not kill or restart_count() != kill.get("attempt", 0):
        return
    if (kill["rank"], kill.get("where", "step"), kill["step"]) != (
        dist.get_rank(),
        where,
        step,
    ):
        return
    tmp = Path(kill["pid_file"] + ".tmp")
    tmp.write_text(str(os.getpid()))
    tmp.replace(kill["pid_file"])
    time.sleep(PAUSE_S)


def save_checkpoint(
    folder: Path, step: int, comm: Comm, optimizer: ShardedAdam, spec: dict[str, Any]
) -> None:
    """Every rank writes its shard; rank 0 commits the manifest once all are durable."""
    fault_point(spec, "save", step)
    entry = save_shard(
        folder, step, comm.rank, comm.world_size, optimizer.shard_state()
    )
    entries: list[Any] = [None] * comm.world_size
    dist.all_gather_object(entries, entry)  # also a barrier: every shard is on disk
    if comm.rank == 0:
        write_manifest(folder, step, comm.world_size, entries)
    dist.barrier()


def resume(folder: Path, comm: Comm, optimizer: ShardedAdam) -> int:
    """Restore the newest whole checkpoint into ``optimizer``; the first step to run.

    Returns 0 when there is no whole checkpoint. A checkpoint labelled ``k``
    was written after step ``k`` had been applied.
    """
    # BEGIN SOLUTION m6: find the newest whole checkpoint; load this rank's shard into the optimiser (weights, moments, step); resume after it
    step = latest_complete(folder, comm.world_size)
    if step is None:
        return 0
    optimizer.load_shard_state(load_shard(folder, step, comm.rank, comm.world_size))
    return step + 1
    # END SOLUTION


def train_resumable(spec: dict[str, Any]) -> dict[str, Any]:
    """The job each rank runs (a rank program for :mod:`infra.torch_dist`).

    spec keys: ``size`` (a :data:`~labs.distributed_training.workload.SIZES`
    entry), ``seed``, ``steps``, ``rows`` (global batch), ``lr``, ``every``
    (checkpoint period in steps), ``checkpoint_dir``, optional ``kill``.
    """
    comm = Comm.world()
    model = build_model(spec["size"], spec["seed"])
    optimizer = ShardedAdam(model.parameters(), comm, stage=1, lr=spec["lr"])
    folder = Path(spec["checkpoint_dir"])
    first = resume(folder, comm, optimizer)
    lo, hi = rank_rows(spec["rows"], comm.rank, comm.world_size)
    for step in range(first, spec["steps"]):
        fault_point(spec, "step", step)
        idx, targets = batch(
            spec["size"], step=step, rows=spec["rows"], seed=spec["seed"]
        )
        optimizer.zero_grad()
        _, loss = model(idx[lo:hi], targets[lo:hi])
        loss.backward()
        optimizer.step()
        if (step + 1) % spec["every"] == 0:
            save_checkpoint(folder, step, comm, optimizer, spec)
    return {
        "params": optimizer.flat_params(),
        "first_step": first,
        "attempt": restart_count(),
        "pid": os.getpid(),
    }


def kill_when_ready(pid_file: Path, timeout_s: float, killed: list[int]) -> None:
    """Wait for a rank to write its pid to ``pid_file``, then SIGKILL it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pid_file.exists():
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.05)


def run_with_kill(
    spec: dict[str, Any],
    *,
    kill: dict[str, Any] | None,
    world_size: int,
    max_restarts: int = 1,
    timeout_s: float = 60.0,
) -> tuple[ElasticRun, list[int]]:
    """Run :func:`train_resumable` elastically, killing the rank ``kill`` names.

    Returns:
        The launcher's :class:`~infra.torch_dist.ElasticRun`, and the pids
        this function killed.
    """
    spec = dict(spec)
    killed: list[int] = []
    killer = None
    if kill is not None:
        pid_file = Path(spec["checkpoint_dir"]) / f"kill-{time.monotonic_ns()}.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        spec["kill"] = {**kill, "pid_file": str(pid_file)}
        killer = threading.Thread(
            target=kill_when_ready, args=(pid_file, timeout_s, killed), daemon=True
        )
        killer.start()
    try:
        run = run_elastic(
            "labs.distributed_training.elastic:train_resumable",
            spec,
            world_size=world_size,
            max_restarts=max_restarts,
            timeout_s=timeout_s,
        )
    finally:
        if killer is not None:
            killer.join(timeout=1.0)
    return run, killed

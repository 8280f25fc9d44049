"""Lab 12, distributed_training: data, tensor and pipeline parallelism from messages.

Everything runs on CPU processes with ``torch.distributed`` over gloo,
started by :mod:`infra.torch_dist` (or ``torchrun``, or Ray Train):

- m1 ``collectives``: ring reduce-scatter, all-gather and all-reduce from
  send/recv (:mod:`comm` counts the bytes), a naive all-reduce to beat;
- m2 ``ddp``: data parallelism by hand, bucketed gradient all-reduce
  launched from backward hooks, weighted for an unequal last batch;
- m3 ``zero``: Adam sharded across ranks, ZeRO stages 1 and 2;
- m4 ``pipeline``: lab 7's GPT cut into stages, GPipe micro-batches;
- m5 ``tensor_parallel``: a Megatron MLP, column- then row-parallel;
- m6 ``checkpoint``, ``elastic``: atomic sharded checkpoints, a job that
  survives a killed rank.

``workload`` (given) builds the model and the seeded batches, ``programs``
what each rank runs in the experiments, ``ray_train`` the same code under
Ray Train. ``labkit run distributed_training`` writes the results page;
``labkit bench distributed_training --json`` the key figures. The brief is
``README.md``.
"""

from labs.distributed_training.checkpoint import (
    atomic_write,
    latest_complete,
    load_shard,
    save_shard,
    write_manifest,
)
from labs.distributed_training.collectives import (
    chunk_bounds,
    naive_all_reduce,
    ring_all_gather,
    ring_all_reduce,
    ring_reduce_scatter,
)
from labs.distributed_training.comm import Comm, ring_bytes
from labs.distributed_training.ddp import BucketedDDP, assign_buckets
from labs.distributed_training.elastic import resume, run_with_kill, train_resumable
from labs.distributed_training.pipeline import (
    Stage,
    Timeline,
    bubble_fraction,
    gpipe_step,
    split_layers,
)
from labs.distributed_training.tensor_parallel import (
    TensorParallelMLP,
    check_tensor_parallel,
)
from labs.distributed_training.zero import ShardedAdam, zero_state_formula

__all__ = [
    "BucketedDDP",
    "Comm",
    "ShardedAdam",
    "Stage",
    "TensorParallelMLP",
    "Timeline",
    "assign_buckets",
    "atomic_write",
    "bubble_fraction",
    "check_tensor_parallel",
    "chunk_bounds",
    "gpipe_step",
    "latest_complete",
    "load_shard",
    "naive_all_reduce",
    "resume",
    "ring_all_gather",
    "ring_all_reduce",
    "ring_bytes",
    "ring_reduce_scatter",
    "run_with_kill",
    "save_shard",
    "split_layers",
    "train_resumable",
    "write_manifest",
    "zero_state_formula",
]

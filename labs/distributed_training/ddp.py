"""m2 — data parallelism by hand: gradient buckets all-reduced while backward runs.

Every rank holds the whole model and a slice of the global batch. After
backward each gradient must be the gradient of the *global* batch's mean
loss, the same on every rank, so that every rank takes the same step:

    grad = Σ_r (n_r / n) · grad_r        n_r: rank r's rows, n = Σ n_r

(with equal slices that is the mean of the ranks' gradients; with an
unequal last batch a rank with fewer rows must count for less). That sum is
one all-reduce per step of every gradient, 2(N − 1)/N × 4Ψ bytes per rank
for Ψ float32 parameters.

Sending one message per parameter wastes the per-message latency; sending
everything after backward wastes the time backward takes. So parameters are
grouped into *buckets* of at most ``bucket_cap_bytes``, in reverse order of
registration (roughly the order backward produces their gradients), and a
bucket's all-reduce is launched (``async_op=True``) the moment its last
gradient has been accumulated, while backward goes on with earlier layers:
communication overlaps computation. :meth:`BucketedDDP.finish` waits for
every bucket and writes the averaged gradients back. PyTorch's
``DistributedDataParallel`` does the same (25 MB buckets by default).

Check it: ``labkit check distributed_training`` (m2).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class Launch:
    """One bucket's all-reduce: which, when, and whether backward was still running."""

    bucket: int
    at_s: float  # time.perf_counter() when it was launched
    during_backward: bool


def in_backward() -> bool:
    """Whether autograd's backward pass is running in this thread right now."""
    return torch._C._current_graph_task_id() != -1


def assign_buckets(sizes: list[int], cap_bytes: int) -> list[list[int]]:
    """Group parameters, in the order given, into buckets of at most ``cap_bytes``.

    Args:
        sizes: each parameter's size in bytes, in the order their gradients
            are expected (reverse registration order).
        cap_bytes: a bucket's most bytes; a parameter larger than the cap
            gets a bucket of its own.

    Returns:
        The buckets, each a list of indices into ``sizes``, in order: a new
        bucket starts when adding the next parameter would pass the cap.
    """
    if cap_bytes <= 0:
        raise ValueError(f"bucket_cap_bytes must be > 0, got {cap_bytes}.")
    # BEGIN SOLUTION m2: fill buckets in order; start a new one when the next size would pass the cap
    buckets: list[list[int]] = []
    filled = 0
    for index, size in enumerate(sizes):
        if buckets and filled + size <= cap_bytes:
            buckets[-1].append(index)
            filled += size
        else:
            buckets.append([index])
            filled = size
    return buckets
    # END SOLUTION


class BucketedDDP(nn.Module):
    """Wrap ``module`` so that backward all-reduces its gradients in buckets.

    A step::

        ddp.begin_step(len(local_batch))   # the global batch's size, once per step
        loss = ddp(x).loss ; loss.backward()
        ddp.finish()                       # wait for every bucket; grads averaged
        optimizer.step()

    Args:
        module: the model; its parameters are broadcast from rank 0 first so
            every rank starts from the same weights.
        bucket_cap_bytes: a bucket's most bytes (> 0).
        overlap: launch each bucket from the backward hooks as soon as it is
            full (True), or all of them in :meth:`finish` (False).
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        bucket_cap_bytes: int = 1 << 20,
        overlap: bool = True,
    ):
        super().__init__()
        if bucket_cap_bytes <= 0:
            raise ValueError(f"bucket_cap_bytes must be > 0, got {bucket_cap_bytes}.")
        self.module, self.overlap = module, overlap
        self.world_size = dist.get_world_size()
        self.params = [p for p in module.parameters() if p.requires_grad]
        for p in self.params:
            dist.broadcast(p.data, src=0)
        self.launches: list[Launch] = []  # this step's launches, for the tests
        self._scale = 1.0 / self.world_size  # n_r / n, set by begin_step
        self._works: dict[int, tuple[dist.Work, Tensor]] = {}  # bucket -> (work, flat)
        # BEGIN SOLUTION m2: bucket the params in reverse order; hook each so it reports once its grad is accumulated
        order = list(reversed(range(len(self.params))))
        sizes = [self.params[i].numel() * self.params[i].element_size() for i in order]
        self.buckets = [
            [order[i] for i in b] for b in assign_buckets(sizes, bucket_cap_bytes)
        ]
        self._bucket_of = {
            p: b for b, members in enumerate(self.buckets) for p in members
        }
        self._pending = [len(members) for members in self.buckets]
        for index, param in enumerate(self.params):
            param.register_post_accumulate_grad_hook(
                lambda _p, index=index: self._on_grad_ready(index)
            )
        # END SOLUTION

    def forward(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.module(*args, **kwargs)

    def begin_step(self, local_batch_size: int) -> int:
        """Learn the global batch's size and this rank's weight in the average.

        Call once per step, before backward, on every rank. Sets
        ``self._scale`` to ``local_batch_size / global_batch_size`` (ranks
        may hold different numbers of rows in a last, short batch).

        Returns:
            The global batch size.
        """
        if local_batch_size < 0:
            raise ValueError(f"local_batch_size must be >= 0, got {local_batch_size}.")
        self.launches.clear()
        # BEGIN SOLUTION m2: all-reduce the row count; this rank's weight is its rows over the total
        total = torch.tensor([local_batch_size], dtype=torch.int64)
        dist.all_reduce(total)
        global_batch = int(total.item())
        self._scale = local_batch_size / global_batch
        return global_batch
        # END SOLUTION

    def _on_grad_ready(self, index: int) -> None:
        """Backward has accumulated parameter ``index``'s gradient."""
        # BEGIN SOLUTION m2: count the bucket down; when it is complete and overlap is on, launch it
        bucket = self._bucket_of[index]
        self._pending[bucket] -= 1
        if self._pending[bucket] == 0 and self.overlap:
            self._launch(bucket)
        # END SOLUTION

    def _launch(self, bucket: int) -> None:
        """Start the bucket's all-reduce of its weighted gradients, without waiting."""
        self.launches.append(Launch(bucket, time.perf_counter(), in_backward()))
        # BEGIN SOLUTION m2: flatten the bucket's grads times the weight; async all-reduce; keep the work and the buffer
        grads = [self.params[i].grad for i in self.buckets[bucket]]
        flat = torch.cat([g.reshape(-1) for g in grads]) * self._scale
        self._works[bucket] = (dist.all_reduce(flat, async_op=True), flat)
        # END SOLUTION

    def finish(self) -> None:
        """Launch what backward did not, wait for every bucket, write the grads back."""
        # BEGIN SOLUTION m2: launch the buckets not launched yet, wait on each, copy the sums back into .grad; reset the counts
        for bucket in range(len(self.buckets)):
            if bucket not in self._works:
                self._launch(bucket)
        for bucket, (work, flat) in sorted(self._works.items()):
            work.wait()
            offset = 0
            for i in self.buckets[bucket]:
                grad = self.params[i].grad
                grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
                offset += grad.numel()
        self._works.clear()
        self._pending = [len(members) for members in self.buckets]
        # END SOLUTION

"""A network link of a set bandwidth, emulated on one machine, for the overlap measurement.

On a laptop the ranks talk over loopback: moving bytes costs CPU (the
kernel copies them), and with two ranks on two cores there is no idle core
to hide communication behind, so overlapping it with backward saves
nothing (``labkit run`` shows it). Between machines the bytes cross a
network card that works while the CPU computes, and that is the time
overlap hides. This module brings that back, honestly labelled: inside a
rank, :func:`slow_link` makes every ``dist.all_reduce`` first spend the
time the bytes would take on a link of ``gbps`` (sleeping, so the CPU is
free), then do the real reduction. Asynchronous calls are served in order
by one thread, as a NIC's queue would; the code measured is unchanged.

    with slow_link(gbps=1.0):          # in a rank program
        ddp.finish()                   # its all-reduces now take wire time
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch.distributed as dist


class _Pending:
    """The handle an emulated asynchronous all-reduce returns (``Work``'s ``wait``)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None

    def wait(self, timeout: Any = None) -> bool:
        if not self.done.wait(timeout=120):
            raise TimeoutError("an emulated all-reduce did not finish within 120 s")
        if self.error is not None:
            raise self.error
        return True

    def is_completed(self) -> bool:
        return self.done.is_set()


@contextmanager
def slow_link(gbps: float) -> Iterator[None]:
    """Make ``dist.all_reduce`` in this process take the wire time of a ``gbps`` link."""
    if gbps <= 0:
        raise ValueError(f"the link's bandwidth must be > 0 Gb/s, got {gbps}.")
    real = dist.all_reduce
    world = dist.get_world_size()
    jobs: queue.Queue[tuple[Any, tuple[Any, ...], dict[str, Any], _Pending] | None]
    jobs = queue.Queue()

    def serve() -> None:
        while (job := jobs.get()) is not None:
            tensor, args, kwargs, pending = job
            try:
                wire_bytes = (
                    2 * (world - 1) / world * tensor.numel() * tensor.element_size()
                )
                time.sleep(wire_bytes * 8 / (gbps * 1e9))
                real(tensor, *args, **kwargs)
            except BaseException as exc:  # handed to whoever waits
                pending.error = exc
            pending.done.set()

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()

    def all_reduce(
        tensor: Any, *args: Any, async_op: bool = False, **kwargs: Any
    ) -> Any:
        pending = _Pending()
        jobs.put((tensor, args, kwargs, pending))
        if async_op:
            return pending
        pending.wait()
        return None

    dist.all_reduce = all_reduce  # type: ignore[assignment]
    try:
        yield
    finally:
        dist.all_reduce = real
        jobs.put(None)
        worker.join(timeout=5)

"""Point-to-point messages between ranks, each byte this rank sends counted.

Every collective in this lab is built from these four calls, so the bytes a
rank sends are counted by the code rather than taken from a formula:

    comm = Comm.world()              # this rank, the default process group
    comm.exchange(send=chunk_a, dst=right, recv=chunk_b, src=left)
    comm.bytes_sent, comm.messages_sent

``exchange`` posts the receive and the send together and waits for both: in
a ring every rank sends and receives at once, and a blocking ``send`` first
on every rank can deadlock once a message is larger than the socket buffers.
On CUDA devices with NCCL the same calls run unchanged, one process per GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass
class Comm:
    """This rank's view of the process group: its rank, the world size, its traffic."""

    rank: int
    world_size: int
    bytes_sent: int = 0
    messages_sent: int = 0
    log: list[tuple[str, int, int]] = field(default_factory=list)  # (op, peer, bytes)

    @classmethod
    def world(cls) -> Comm:
        """The default process group (started by a launcher, torchrun or Ray Train)."""
        if not dist.is_initialized():
            raise RuntimeError(
                "torch.distributed is not initialised in this process: run the code "
                "on ranks started by infra.torch_dist (or torchrun, or Ray Train)."
            )
        return cls(dist.get_rank(), dist.get_world_size())

    def reset(self) -> None:
        self.bytes_sent, self.messages_sent = 0, 0
        self.log.clear()

    @property
    def right(self) -> int:
        """The next rank around the ring."""
        return (self.rank + 1) % self.world_size

    @property
    def left(self) -> int:
        """The previous rank around the ring."""
        return (self.rank - 1) % self.world_size

    def _count(self, tensor: Tensor, dst: int) -> None:
        size = tensor.numel() * tensor.element_size()
        self.bytes_sent += size
        self.messages_sent += 1
        self.log.append(("send", dst, size))

    def send(self, tensor: Tensor, dst: int) -> None:
        """Send ``tensor`` to rank ``dst`` and wait until it has left."""
        self._count(tensor, dst)
        dist.send(tensor.contiguous(), dst)

    def recv(self, tensor: Tensor, src: int) -> Tensor:
        """Receive into ``tensor`` (contiguous, the sender's shape) from ``src``."""
        dist.recv(tensor, src)
        return tensor

    def exchange(self, *, send: Tensor, dst: int, recv: Tensor, src: int) -> Tensor:
        """Send ``send`` to ``dst`` while receiving into ``recv`` from ``src``.

        ``recv`` must be contiguous (a slice of a flat tensor is); it is
        returned once the data has arrived and ``send`` has left.
        """
        self._count(send, dst)
        incoming = dist.irecv(recv, src)
        outgoing = dist.isend(send.contiguous(), dst)
        incoming.wait()
        outgoing.wait()
        return recv


def ring_bytes(numel: int, element_size: int, world_size: int) -> float:
    """What one rank sends in a ring all-reduce of ``numel`` elements: 2(N−1)/N × size."""
    return 2 * (world_size - 1) / world_size * numel * element_size


def tensor_bytes(tensors: list[Tensor]) -> int:
    """The bytes ``tensors`` hold."""
    return sum(t.numel() * t.element_size() for t in tensors)


def flat_grads(params: list[torch.nn.Parameter]) -> Tensor:
    """Every gradient of ``params`` in one flat tensor, zeros where there is none."""
    return torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
            for p in params
        ]
    )

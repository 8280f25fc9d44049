"""m1 — all-reduce from point-to-point messages: the ring, and a naive one to beat.

A ring all-reduce of a tensor of S bytes over N ranks is two passes round
the ring, each N − 1 steps, each step sending one chunk of about S / N to the
right-hand neighbour while receiving one from the left:

    reduce-scatter: after it, rank r holds the sum over all ranks of chunk r
    all-gather:     after it, every rank holds every summed chunk

so each rank sends 2(N − 1)/N × S bytes, whatever N, and every link is busy
at once. The naive all-reduce sends everything to rank 0, which adds and
sends the sum back: rank 0 sends (N − 1) × S and its link is the bottleneck.

Chunks follow :func:`chunk_bounds`: ``numel`` split into N contiguous
chunks, the first ``numel % N`` one element longer (``torch.tensor_split``'s
rule). ZeRO (m3) shards its optimiser with the same bounds and the same two
passes, and tensor parallelism (m5) all-reduces with :func:`ring_all_reduce`.

Check it: ``labkit check distributed_training`` (m1).
"""

from __future__ import annotations

from torch import Tensor

from labs.distributed_training.comm import Comm


def chunk_bounds(numel: int, parts: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each of ``parts`` contiguous chunks of ``numel`` elements.

    The first ``numel % parts`` chunks get one element more, so sizes differ
    by at most one and ``numel < parts`` gives some empty chunks.
    """
    if parts < 1 or numel < 0:
        raise ValueError(f"need parts >= 1 and numel >= 0, got {parts}, {numel}.")
    # BEGIN SOLUTION m1: split numel into parts contiguous chunks, the first numel % parts one longer
    base, extra = divmod(numel, parts)
    bounds, start = [], 0
    for part in range(parts):
        end = start + base + (1 if part < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds
    # END SOLUTION


def ring_reduce_scatter(flat: Tensor, comm: Comm) -> tuple[int, int]:
    """Sum ``flat`` over all ranks, chunk by chunk; rank r ends with chunk r summed.

    ``flat`` is a 1-D contiguous tensor, the same size on every rank, added
    into in place. Only chunk ``comm.rank`` of it is complete afterwards (the
    other chunks hold partial sums). Sends N − 1 chunks, one per step, each to
    ``comm.right`` while receiving one from ``comm.left``.

    Returns:
        ``(start, end)`` of this rank's summed chunk.
    """
    bounds = chunk_bounds(flat.numel(), comm.world_size)
    # BEGIN SOLUTION m1: N-1 steps; at step s send chunk (r-s-1) % N right, receive chunk (r-s-2) % N from the left and add it
    n, r = comm.world_size, comm.rank
    for step in range(n - 1):
        send_start, send_end = bounds[(r - step - 1) % n]
        recv_start, recv_end = bounds[(r - step - 2) % n]
        incoming = flat.new_empty(recv_end - recv_start)
        comm.exchange(
            send=flat[send_start:send_end], dst=comm.right, recv=incoming, src=comm.left
        )
        flat[recv_start:recv_end] += incoming
    return bounds[r]
    # END SOLUTION


def ring_all_gather(flat: Tensor, comm: Comm) -> Tensor:
    """Give every rank every chunk: rank r starts with chunk r of ``flat`` right.

    ``flat`` is 1-D and contiguous; chunk ``comm.rank`` is this rank's, the
    others are overwritten in place. N − 1 steps, one chunk sent per step.
    """
    bounds = chunk_bounds(flat.numel(), comm.world_size)
    # BEGIN SOLUTION m1: N-1 steps; at step s send chunk (r-s) % N right, receive chunk (r-s-1) % N from the left into place
    n, r = comm.world_size, comm.rank
    for step in range(n - 1):
        send_start, send_end = bounds[(r - step) % n]
        recv_start, recv_end = bounds[(r - step - 1) % n]
        comm.exchange(
            send=flat[send_start:send_end],
            dst=comm.right,
            recv=flat[recv_start:recv_end],
            src=comm.left,
        )
    return flat
    # END SOLUTION


def ring_all_reduce(tensor: Tensor, comm: Comm) -> Tensor:
    """Sum ``tensor`` over all ranks, in place: a reduce-scatter, then an all-gather.

    ``tensor`` must be contiguous (any shape); it is returned.
    """
    if not tensor.is_contiguous():
        raise ValueError(
            "ring_all_reduce needs a contiguous tensor; call .contiguous()."
        )
    if comm.world_size == 1:
        return tensor
    flat = tensor.view(-1)
    ring_reduce_scatter(flat, comm)
    ring_all_gather(flat, comm)
    return tensor


def naive_all_reduce(tensor: Tensor, comm: Comm, root: int = 0) -> Tensor:
    """Sum ``tensor`` over all ranks, in place: everyone sends to ``root``, which sends back.

    Rank ``root`` receives the N − 1 other tensors in rank order and adds
    them to its own, then sends the sum to each of them. Built from
    ``comm.send`` and ``comm.recv`` only.
    """
    if not tensor.is_contiguous():
        raise ValueError("naive_all_reduce needs a contiguous tensor.")
    # BEGIN SOLUTION m1: root receives and adds every other rank's tensor, then sends the sum to each
    if comm.rank == root:
        incoming = tensor.new_empty(tensor.shape)
        for src in range(comm.world_size):
            if src != root:
                tensor += comm.recv(incoming, src)
        for dst in range(comm.world_size):
            if dst != root:
                comm.send(tensor, dst)
    else:
        comm.send(tensor, root)
        comm.recv(tensor, root)
    return tensor
    # END SOLUTION

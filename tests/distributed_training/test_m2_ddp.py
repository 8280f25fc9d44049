"""m2 — data parallelism by hand: bucketed all-reduce from backward hooks.

Oracles: one process training on each step's whole batch (the concatenation
of every rank's rows, an unequal last batch included), and PyTorch's
``DistributedDataParallel`` on the same data. The overlap itself is checked
from the launches ``BucketedDDP`` records: with overlap on, every bucket was
launched while backward was still running, in the order its gradients
became ready; with it off, none was.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from labs.distributed_training import assign_buckets
from labs.distributed_training.programs import train_single
from labs.distributed_training.workload import SIZES, build_model

TINY = SIZES["tiny"]
CAP = 4096  # bytes: the tiny GPT's 30 kB of gradients in about a dozen buckets


def greedy(sizes: list[int], cap: int) -> list[list[int]]:
    """The bucketing rule, written the obvious slow way."""
    buckets: list[list[int]] = []
    for index, size in enumerate(sizes):
        if buckets and sum(sizes[i] for i in buckets[-1]) + size <= cap:
            buckets[-1].append(index)
        else:
            buckets.append([index])
    return buckets


@given(sizes=st.lists(st.integers(1, 300), max_size=30), cap=st.integers(1, 600))
def test_assign_buckets_fills_in_order_up_to_the_cap(sizes, cap) -> None:
    assert assign_buckets(sizes, cap) == greedy(sizes, cap)


@pytest.mark.given
def test_bucket_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="bucket_cap_bytes must be > 0"):
        assign_buckets([4, 4], 0)


def max_difference(a: dict, b: dict) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


def assert_same_weights(got: dict, want: dict, what: str) -> None:
    worst = max_difference(got, want)
    assert worst < 1e-5, f"{what}: weights differ by up to {worst:.2e}"


@pytest.mark.parametrize(
    "world, rows",
    [(2, [8, 8, 8]), (4, [8, 8, 6]), (3, [9, 7])],
    ids=["N=2-even", "N=4-short-last-batch", "N=3-uneven"],
)
def test_weights_equal_one_process_on_the_whole_batch(ranks, world, rows) -> None:
    spec = {"size": TINY, "seed": 1, "rows": rows, "bucket_cap_bytes": CAP}
    out = ranks.run("train_data_parallel", spec, world_size=world)
    want = train_single(spec)
    for rank, result in enumerate(out):
        assert_same_weights(
            result["state"], want, f"rank {rank} of {world}, rows {rows}"
        )


def test_weights_equal_torch_ddp(ranks) -> None:
    spec = {"size": TINY, "seed": 2, "rows": [8, 8], "bucket_cap_bytes": CAP}
    ours = ranks.run("train_data_parallel", spec, world_size=2)
    theirs = ranks.run("train_data_parallel", {**spec, "impl": "torch"}, world_size=2)
    assert_same_weights(ours[0]["state"], theirs[0]["state"], "BucketedDDP vs DDP")


def test_buckets_follow_reverse_parameter_order_within_the_cap(ranks) -> None:
    spec = {"size": TINY, "seed": 0, "rows": [4], "bucket_cap_bytes": CAP}
    buckets = ranks.run("train_data_parallel", spec, world_size=2)[0]["buckets"]
    params = list(build_model(TINY, 0).parameters())
    flat = [i for bucket in buckets for i in bucket]
    assert flat == list(reversed(range(len(params)))), (
        "every parameter once, last first"
    )
    sizes = [p.numel() * p.element_size() for p in params]
    assert buckets == [
        [len(params) - 1 - i for i in b] for b in greedy(sizes[::-1], CAP)
    ]


def test_buckets_launch_during_backward_as_they_fill(ranks) -> None:
    spec = {"size": TINY, "seed": 0, "rows": [4, 4], "bucket_cap_bytes": CAP}
    out = ranks.run("train_data_parallel", spec, world_size=2)
    n_buckets = len(out[0]["buckets"])
    assert n_buckets > 3
    for rank, result in enumerate(out):
        for step, launches in enumerate(result["launches"]):
            assert [b for b, _ in launches] == list(range(n_buckets)), (
                f"rank {rank} step {step}: each bucket launched once, as it filled"
            )
            assert all(during for _, during in launches), (
                f"rank {rank} step {step}: launched after backward had finished: {launches}"
            )


def test_without_overlap_nothing_launches_during_backward(ranks) -> None:
    spec = {
        "size": TINY,
        "seed": 0,
        "rows": [4, 4],
        "bucket_cap_bytes": CAP,
        "overlap": False,
    }
    out = ranks.run("train_data_parallel", spec, world_size=2)
    assert all(result["launches"] == [[], []] for result in out), out[0]["launches"]
    assert_same_weights(out[0]["state"], train_single(spec), "overlap off")


@pytest.mark.given
def test_slow_link_takes_the_wire_time_and_reduces_exactly(ranks) -> None:
    """The overlap benchmark's emulated link: gloo's sums, after the bytes' wire time."""
    spec = {"seed": 5, "numel": 50_000, "gbps": 0.1}
    out = ranks.run("rank_checks:slow_link_all_reduce", spec, world_size=2)
    wire_s = 2 * (2 - 1) / 2 * 50_000 * 8 * 8 / 0.1e9  # int64: 8 bytes, 8 bits each
    for rank, got in enumerate(out):
        assert torch.equal(got["synced"], got["oracle"]), f"rank {rank}: wrong sum"
        assert torch.equal(got["pending"], got["oracle"]), f"rank {rank}: async sum"
        assert got["sync_s"] >= wire_s, f"rank {rank}: faster than the link allows"
        assert got["async_returned_s"] < wire_s / 2, "async_op=True must not wait"
        assert got["restored"], "dist.all_reduce must be restored on exit"

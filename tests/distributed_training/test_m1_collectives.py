"""m1 — ring all-reduce from send/recv, checked against gloo's ``all_reduce``.

Every world size 2–4, sizes that do not divide by it (and smaller than it),
integer tensors so a chunk added twice or skipped cannot hide in rounding.
The bytes each rank sends are counted by ``Comm`` and checked against the
ring's 2(N − 1)/N × size.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from labs.distributed_training import chunk_bounds, ring_bytes

SIZES = [1, 3, 7, 10, 1001]


@given(numel=st.integers(0, 500), parts=st.integers(1, 9))
def test_chunk_bounds_match_tensor_split(numel: int, parts: int) -> None:
    expected = [len(c) for c in torch.arange(numel).tensor_split(parts)]
    bounds = chunk_bounds(numel, parts)
    assert [end - start for start, end in bounds] == expected
    assert bounds[0][0] == 0 and bounds[-1][1] == numel
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))


@pytest.fixture(scope="module", params=[2, 3, 4], ids=lambda n: f"N={n}")
def reduced(request, ranks):
    world = request.param
    return world, ranks.run(
        "rank_checks:all_reduce_vs_gloo", {"seed": 7, "sizes": SIZES}, world_size=world
    )


def test_ring_and_naive_equal_gloo_all_reduce(reduced) -> None:
    world, per_rank = reduced
    for rank, cases in enumerate(per_rank):
        for case in cases:
            where = f"rank {rank} of {world}, {case['numel']} {case['dtype']} elements"
            if case["dtype"] == "int64":
                assert torch.equal(case["ring"], case["oracle"]), (
                    f"ring all-reduce, {where}"
                )
                assert torch.equal(case["naive"], case["oracle"]), (
                    f"naive all-reduce, {where}"
                )
            else:
                torch.testing.assert_close(
                    case["ring"], case["oracle"], msg=f"ring, {where}"
                )
                torch.testing.assert_close(
                    case["naive"], case["oracle"], msg=f"naive, {where}"
                )


def test_ring_sends_two_n_minus_one_over_n_of_the_tensor(reduced) -> None:
    world, per_rank = reduced
    for index, case in enumerate(per_rank[0]):
        size = case["numel"] * case["element_size"]
        sent = [cases[index]["ring_bytes"] for cases in per_rank]
        # every chunk crosses N - 1 links in each pass: exactly 2(N - 1) x size in all
        assert sum(sent) == 2 * (world - 1) * size, (case["numel"], sent)
        chunk = -(-case["numel"] // world) * case["element_size"]
        formula = ring_bytes(case["numel"], case["element_size"], world)
        for rank, bytes_sent in enumerate(sent):
            assert abs(bytes_sent - formula) <= 2 * chunk, (rank, bytes_sent, formula)
        messages = [cases[index]["ring_messages"] for cases in per_rank]
        assert messages == [2 * (world - 1)] * world, "one chunk per step, 2(N-1) steps"


def test_naive_root_sends_n_minus_one_copies(reduced) -> None:
    world, per_rank = reduced
    for index, case in enumerate(per_rank[0]):
        size = case["numel"] * case["element_size"]
        sent = [cases[index]["naive_bytes"] for cases in per_rank]
        assert sent == [(world - 1) * size] + [size] * (world - 1), (
            case["numel"],
            sent,
        )


@pytest.mark.parametrize("world", [2, 3, 4])
def test_reduce_scatter_leaves_rank_r_with_chunk_r_then_all_gather_fills_the_rest(
    ranks, world
) -> None:
    from rank_checks import rank_input

    numel = 11
    out = ranks.run(
        "rank_checks:reduce_scatter_then_gather",
        {"seed": 3, "numel": numel},
        world_size=world,
    )
    total = sum(rank_input(3, r, numel, "int64") for r in range(world))
    bounds = chunk_bounds(numel, world)
    for rank, result in enumerate(out):
        lo, hi = bounds[rank]
        assert result["bounds"] == (lo, hi), (
            f"rank {rank} owns chunk {rank} after the reduce-scatter"
        )
        assert torch.equal(result["chunk"], total[lo:hi]), (
            f"rank {rank}'s chunk is the sum"
        )
    # each rank contributed only its own summed chunk to the all-gather
    expected = torch.cat([total[lo:hi] for lo, hi in bounds])
    for rank, result in enumerate(out):
        assert torch.equal(result["gathered"], expected), (
            f"rank {rank} after the all-gather"
        )

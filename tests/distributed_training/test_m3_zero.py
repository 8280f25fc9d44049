"""m3 — ZeRO-1 and ZeRO-2: Adam's state sharded across ranks, updates unchanged.

Oracle: ``torch.optim.Adam`` in one process on each step's whole batch. The
tiny GPT has 7,744 parameters, which 3 ranks cannot split evenly, so shard
boundaries are tested too. Bytes held per rank are checked against the
formulas: moments 8Ψ/N, gradients 4Ψ (stage 1) or 4Ψ/N (stage 2).
"""

from __future__ import annotations

import pytest

from labs.distributed_training import chunk_bounds, zero_state_formula
from labs.distributed_training.programs import adam_single
from labs.distributed_training.workload import SIZES

TINY = SIZES["tiny"]
CASES = [(1, 2), (2, 2), (2, 3), (1, 4), (2, 4)]


@pytest.fixture(scope="module")
def runs(ranks):
    out = {}
    for stage, world in CASES:
        spec = {
            "size": TINY,
            "seed": 4,
            "rows": 12,
            "lr": 0.01,
            "steps": 3,
            "stage": stage,
        }
        out[stage, world] = ranks.run("train_zero", spec, world_size=world)
    return out


@pytest.fixture(scope="module")
def adam():
    spec = {"size": TINY, "seed": 4, "rows": 12, "lr": 0.01, "steps": 3}
    return adam_single(spec)


@pytest.mark.parametrize(
    "stage, world", CASES, ids=[f"zero{s}-N={n}" for s, n in CASES]
)
def test_updates_equal_unsharded_adam(runs, adam, stage, world) -> None:
    for rank, result in enumerate(runs[stage, world]):
        worst = (result["params"] - adam).abs().max().item()
        assert worst < 2e-5, (
            f"ZeRO-{stage}, rank {rank} of {world}: weights differ from Adam's by {worst:.2e}"
        )


@pytest.mark.parametrize(
    "stage, world", CASES, ids=[f"zero{s}-N={n}" for s, n in CASES]
)
def test_each_rank_owns_its_chunk_of_the_flat_parameters(runs, stage, world) -> None:
    n_params = runs[stage, world][0]["n_params"]
    bounds = [tuple(result["bounds"]) for result in runs[stage, world]]
    assert bounds == chunk_bounds(n_params, world)


@pytest.mark.parametrize(
    "stage, world", CASES, ids=[f"zero{s}-N={n}" for s, n in CASES]
)
def test_state_bytes_match_the_formulas(runs, stage, world) -> None:
    results = runs[stage, world]
    n_params = results[0]["n_params"]
    formula = zero_state_formula(n_params, world, stage)
    for rank, result in enumerate(results):
        held = result["state_bytes"]
        lo, hi = result["bounds"]
        assert held["optimizer"] == 8 * (hi - lo), (
            f"rank {rank}: m and v of its shard only"
        )
        expected_grads = 4 * (hi - lo) if stage == 2 else 4 * n_params
        assert held["gradients"] == expected_grads, (
            f"ZeRO-{stage} rank {rank} gradients"
        )
        for what in ("optimizer", "gradients"):
            assert abs(held[what] - formula[what]) <= 8, (rank, what, held, formula)
    assert sum(r["state_bytes"]["optimizer"] for r in results) == 8 * n_params


@pytest.mark.parametrize(
    "stage, world", CASES, ids=[f"zero{s}-N={n}" for s, n in CASES]
)
def test_a_step_sends_what_ddp_sends(runs, stage, world) -> None:
    results = runs[stage, world]
    n_params = results[0]["n_params"]
    for step in range(3):
        sent = sum(result["bytes_per_step"][step] for result in results)
        # reduce-scatter + all-gather: each 4-byte element crosses N - 1 links twice
        assert sent == 2 * (world - 1) * 4 * n_params, (step, sent)

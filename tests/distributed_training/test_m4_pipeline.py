"""m4 — GPipe: lab 7's GPT in stages, loss and gradients equal to the unsplit model's.

The schedule is checked from each stage's timeline (all forwards in order,
then the backwards in reverse order), and the bubble from it: with every
forward and backward made to take the same time, the idle share of the
step must follow (p − 1)/(m + p − 1).
"""

from __future__ import annotations

import pytest
import torch

from labs.distributed_training import bubble_fraction, split_layers
from labs.distributed_training.workload import SIZES, batch, build_model

SIZE = {**SIZES["tiny"], "n_layer": 3}


def unsplit(rows: int) -> tuple[float, dict[str, torch.Tensor]]:
    model = build_model(SIZE, 5)
    idx, targets = batch(SIZE, step=0, rows=rows, seed=5)
    _, loss = model(idx, targets)
    loss.backward()
    return loss.item(), {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize(
    "stages, n_micro, rows", [(2, 1, 6), (2, 4, 6), (3, 3, 7), (3, 6, 6)]
)
def test_loss_and_gradients_equal_the_unsplit_model(
    ranks, stages, n_micro, rows
) -> None:
    spec = {"size": SIZE, "seed": 5, "rows": rows, "n_micro": n_micro}
    out = ranks.run("pipeline_step", spec, world_size=stages)
    loss, grads = unsplit(rows)
    assert all(r["loss"] is None for r in out[:-1]), "only the last stage has the loss"
    assert out[-1]["loss"] == pytest.approx(loss, rel=1e-5), (
        "the whole batch's mean loss"
    )
    got = {}
    for result in out:
        for name in result["grads"]:
            assert name not in got, f"{name} has a gradient on two stages"
        got.update(result["grads"])
    assert set(got) == set(grads), (
        "every parameter gets its gradient on exactly one stage"
    )
    for name, grad in grads.items():
        torch.testing.assert_close(got[name], grad, atol=1e-6, rtol=1e-4, msg=name)


def test_gpipe_runs_all_forwards_then_backwards_in_reverse(ranks) -> None:
    spec = {"size": SIZE, "seed": 5, "rows": 8, "n_micro": 4}
    out = ranks.run("pipeline_step", spec, world_size=3)
    expected = [("F", i) for i in range(4)] + [("B", i) for i in reversed(range(4))]
    for stage, result in enumerate(out):
        assert [(e.kind, e.micro) for e in result["events"]] == expected, (
            f"stage {stage}"
        )


@pytest.mark.parametrize("stages, n_micro", [(2, 2), (2, 6), (3, 3)])
def test_bubble_follows_p_minus_one_over_m_plus_p_minus_one(
    ranks, stages, n_micro
) -> None:
    spec = {"size": SIZE, "seed": 5, "rows": 6, "n_micro": n_micro, "delay_s": 0.04}
    out = ranks.run("pipeline_step", spec, world_size=stages)
    measured = bubble_fraction([r["events"] for r in out])
    formula = (stages - 1) / (n_micro + stages - 1)
    assert measured == pytest.approx(formula, abs=0.07), (measured, formula)


@pytest.mark.given
def test_more_stages_than_layers_is_refused() -> None:
    with pytest.raises(ValueError, match="4 pipeline stages cannot split 3 layers"):
        split_layers(3, 4)

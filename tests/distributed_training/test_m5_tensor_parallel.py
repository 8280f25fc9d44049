"""m5 — a Megatron MLP: outputs and gradients equal lab 7's dense MLP.

Every rank ends with the dense output and the dense input gradient; the
sliced weights' gradients are the matching slices of the dense ones. One
all-reduce forward and one backward, each of a (B, T, C) tensor, counted by
``Comm``.
"""

from __future__ import annotations

import pytest
import torch

from labs.distributed_training import check_tensor_parallel
from labs.distributed_training.programs import dense_mlp

SPEC = {"seed": 6, "n_embd": 8, "rows": 3, "tokens": 5}


def dense() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    mlp, x, upstream = dense_mlp(SPEC)
    x.requires_grad_()
    y = mlp(x)
    y.backward(upstream)
    return y.detach(), x.grad, {n: p.grad for n, p in mlp.named_parameters()}


@pytest.fixture(scope="module", params=[2, 4], ids=lambda n: f"N={n}")
def split(request, ranks):
    return request.param, ranks.run(
        "tensor_parallel_mlp", SPEC, world_size=request.param
    )


def test_output_and_input_gradient_equal_the_dense_mlp(split) -> None:
    world, out = split
    y, x_grad, _ = dense()
    for rank, result in enumerate(out):
        torch.testing.assert_close(
            result["y"], y, msg=f"output on rank {rank} of {world}"
        )
        torch.testing.assert_close(
            result["x_grad"], x_grad, msg=f"input gradient on rank {rank} of {world}"
        )


def test_weight_gradients_are_slices_of_the_dense_ones(split) -> None:
    world, out = split
    _, _, grads = dense()
    width = grads["c_fc.weight"].shape[0] // world
    for rank, result in enumerate(out):
        lo, hi = rank * width, (rank + 1) * width
        got = result["grads"]
        torch.testing.assert_close(got["fc_weight"], grads["c_fc.weight"][lo:hi])
        torch.testing.assert_close(got["fc_bias"], grads["c_fc.bias"][lo:hi])
        torch.testing.assert_close(got["proj_weight"], grads["c_proj.weight"][:, lo:hi])
        torch.testing.assert_close(got["proj_bias"], grads["c_proj.bias"])


def test_one_all_reduce_forward_and_one_backward(split) -> None:
    world, out = split
    size = SPEC["rows"] * SPEC["tokens"] * SPEC["n_embd"] * 4  # (B, T, C) float32
    for direction in ("forward", "backward"):
        sent = sum(r[f"{direction}_bytes"] for r in out)
        assert sent == 2 * (world - 1) * size, (direction, sent)
        messages = [r[f"{direction}_messages"] for r in out]
        assert messages == [2 * (world - 1)] * world, (direction, messages)


@pytest.mark.given
def test_a_world_size_that_does_not_divide_the_layer_is_refused() -> None:
    with pytest.raises(ValueError, match="world size 3 does not divide"):
        check_tensor_parallel(8, 32, 3)

"""m4: SGD-momentum and Adam step like torch.optim; an MLP learns the digits."""

import numpy as np
import pytest
import torch
from autograd_helpers import examples
from hypothesis import given
from hypothesis import strategies as st

from labs.autograd import (
    MLP,
    SGD,
    Adam,
    Module,
    Tensor,
    TrainConfig,
    load_digits_data,
    train,
)
from labs.autograd.train import train_epoch

STEPS = 6


def _gradient(p: np.ndarray) -> np.ndarray:
    """A deterministic, parameter-dependent gradient (a non-quadratic bowl)."""
    return 2.0 * p + np.sin(3.0 * p) + 0.5


def _run_both(make_ours, make_theirs, shapes, skip=frozenset()):
    """Step both optimisers on the same gradients; yield the parameters after each step.

    ``skip`` holds (step, parameter) pairs whose gradient is None that step.
    """
    rng = np.random.default_rng(0)
    start = [rng.normal(size=s) for s in shapes]
    ours = [Tensor(p.copy(), requires_grad=True) for p in start]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in start]
    opt, topt = make_ours(ours), make_theirs(theirs)
    for step in range(STEPS):
        opt.zero_grad()
        topt.zero_grad()
        for i, (p, t) in enumerate(zip(ours, theirs, strict=True)):
            if (step, i) in skip:
                continue
            p.grad = _gradient(p.data)
            t.grad = torch.from_numpy(_gradient(t.detach().numpy()))
        opt.step()
        topt.step()
        yield step, ours, theirs


@given(
    lr=st.floats(1e-3, 0.5),
    momentum=st.sampled_from([0.0, 0.5, 0.9, 0.99]),
    weight_decay=st.sampled_from([0.0, 1e-2]),
)
@examples(25)
def test_sgd_with_momentum_matches_torch(lr, momentum, weight_decay):
    steps = _run_both(
        lambda ps: SGD(ps, lr=lr, momentum=momentum, weight_decay=weight_decay),
        lambda ps: torch.optim.SGD(
            ps, lr=lr, momentum=momentum, weight_decay=weight_decay
        ),
        shapes=[(3, 2), (2,)],
    )
    for step, ours, theirs in steps:
        for p, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(
                p.data,
                t.detach().numpy(),
                rtol=1e-12,
                atol=1e-12,
                err_msg=f"step {step}",
            )


@given(
    lr=st.floats(1e-4, 0.1),
    beta1=st.sampled_from([0.0, 0.5, 0.9]),
    beta2=st.sampled_from([0.9, 0.99, 0.999]),
    eps=st.sampled_from([1e-8, 1e-3]),
    weight_decay=st.sampled_from([0.0, 1e-2]),
)
@examples(25)
def test_adam_matches_torch(lr, beta1, beta2, eps, weight_decay):
    steps = _run_both(
        lambda ps: Adam(
            ps, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay
        ),
        lambda ps: torch.optim.Adam(
            ps, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay
        ),
        shapes=[(3, 2), (2,)],
    )
    for step, ours, theirs in steps:
        for p, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(
                p.data,
                t.detach().numpy(),
                rtol=1e-10,
                atol=1e-12,
                err_msg=f"step {step}",
            )


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_parameters_without_a_gradient_are_left_alone(kind):
    # Parameter 1 has no gradient on steps 0 and 1: it must not move, and Adam's
    # step count for it must start when its gradient first arrives (as torch does).
    skip = {(0, 1), (1, 1)}
    if kind == "sgd":
        make = (
            lambda ps: SGD(ps, lr=0.1, momentum=0.9),
            lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        )
    else:
        make = (lambda ps: Adam(ps, lr=0.05), lambda ps: torch.optim.Adam(ps, lr=0.05))
    start = None
    for step, ours, theirs in _run_both(*make, shapes=[(2,), (3,)], skip=skip):
        if start is None:
            start = ours[1].data.copy()
        if step <= 1:
            np.testing.assert_array_equal(ours[1].data, start)
        for p, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(
                p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12
            )


class _Watched(Module):
    """The model, recording every batch it is called on."""

    def __init__(self, model: MLP):
        self.model = model
        self.batches: list[np.ndarray] = []

    def forward(self, x: Tensor) -> Tensor:
        self.batches.append(x.data.copy())
        return self.model(x)


class _CheckedSGD(SGD):
    """Plain SGD that first checks each step's gradients against torch.

    At every step the gradients must be those of the mean cross-entropy of the
    batch the model last saw, and of that batch only: a loop that forgets
    ``zero_grad`` (gradients pile up), zeroes them after ``backward`` or steps
    before ``backward`` hands the optimiser something else.
    """

    def __init__(self, watched: _Watched, labels: dict[bytes, int]):
        super().__init__(watched.parameters(), lr=0.05)
        self.watched, self.labels = watched, labels
        self.losses: list[float] = []

    def step(self) -> None:
        batch = self.watched.batches[-1]  # (B, D)
        targets = torch.tensor([self.labels[row.tobytes()] for row in batch])
        (w1, b1, w2, b2) = (
            torch.tensor(p.data, requires_grad=True) for p in self.params
        )
        hidden = torch.relu(torch.from_numpy(batch) @ w1 + b1)
        loss = torch.nn.functional.cross_entropy(hidden @ w2 + b2, targets)
        loss.backward()
        self.losses.append(loss.item())
        for i, (p, t) in enumerate(zip(self.params, (w1, b1, w2, b2), strict=True)):
            assert p.grad is not None, (
                f"step {len(self.losses)}: parameter {i} has no gradient when "
                "optimizer.step() runs; call loss.backward() before step()."
            )
            np.testing.assert_allclose(
                p.grad,
                t.grad.numpy(),
                rtol=1e-9,
                atol=1e-12,
                err_msg=(
                    f"step {len(self.losses)}: parameter {i}'s gradient is not the "
                    "gradient of this batch's loss alone (zero_grad before backward?)"
                ),
            )
        super().step()


def _watched_epoch(seed: int, n: int = 50, batch_size: int = 16):
    rng = np.random.default_rng(100)
    x = rng.normal(size=(n, 6))
    y = rng.integers(0, 3, size=n)
    watched = _Watched(MLP((6, 5, 3), seed=1))
    optimizer = _CheckedSGD(
        watched, {row.tobytes(): int(t) for row, t in zip(x, y, strict=True)}
    )
    losses = train_epoch(
        watched, optimizer, x, y, batch_size, np.random.default_rng(seed)
    )
    rows = {row.tobytes(): i for i, row in enumerate(x)}
    order = [rows[row.tobytes()] for batch in watched.batches for row in batch]
    return losses, optimizer, watched, order


def test_an_epoch_steps_once_per_shuffled_minibatch_on_fresh_gradients():
    losses, optimizer, watched, order = _watched_epoch(seed=0)
    sizes = [len(b) for b in watched.batches]
    assert sizes == [16, 16, 16, 2], (
        f"50 rows in batches of 16 are batches of {[16, 16, 16, 2]}, got {sizes}"
    )
    assert len(optimizer.losses) == 4, "one optimizer.step() per minibatch"
    assert sorted(order) == list(range(50)), "every row exactly once per epoch"
    assert order != list(range(50)), "the rows were not shuffled"
    np.testing.assert_allclose(losses, optimizer.losses, rtol=1e-9)
    assert all(isinstance(loss, float) for loss in losses), "collect loss.item()"
    # the order comes from the rng passed in: the same seed repeats it
    assert _watched_epoch(seed=0)[3] == order
    assert _watched_epoch(seed=1)[3] != order


@pytest.fixture(scope="module")
def digits():
    return load_digits_data(test_fraction=0.25, seed=0)


def test_one_epoch_takes_one_step_per_minibatch(digits):
    model = MLP((64, 32, 10), seed=0)
    before = [p.data.copy() for p in model.parameters()]
    losses = train_epoch(
        model,
        Adam(model.parameters(), lr=2e-3),
        digits.x_train,
        digits.y_train,
        100,
        np.random.default_rng(0),
    )
    assert len(losses) == int(np.ceil(len(digits.x_train) / 100))
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])  # it learns within one epoch
    assert all(
        (p.data != b).any() for p, b in zip(model.parameters(), before, strict=True)
    )


def test_an_mlp_learns_the_digits(digits):
    # The full benchmark run (labkit bench autograd) trains longer; this takes ~1 s.
    result = train(
        TrainConfig(hidden=(128,), optimizer="adam", lr=2e-3, epochs=15, seed=0), digits
    )
    assert result.epoch_loss[-1] < 0.5 * result.epoch_loss[0]
    assert result.final_test_accuracy >= 0.95

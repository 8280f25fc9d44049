"""m3 — the PyTorch click model: architecture, determinism, early stopping, quality."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from labs.training import (
    ClickModel,
    TrainConfig,
    Vocabulary,
    evaluate,
    fit,
    predict_baseline,
)
from labs.training.train import Tensors, train_epoch


@given(
    train_ids=st.lists(st.integers(-50, 50), max_size=80),
    queries=st.lists(st.integers(-60, 60), max_size=40),
    min_count=st.integers(1, 3),
)
def test_vocabulary_gives_known_ids_their_row_and_others_the_oov_row(
    train_ids, queries, min_count
) -> None:
    vocab = Vocabulary.fit("user_id", np.array(train_ids, dtype=np.int64), min_count)
    known = sorted({i for i in train_ids if train_ids.count(i) >= min_count})
    row_of = {ident: k + 1 for k, ident in enumerate(known)}
    got = vocab.lookup(np.array(queries, dtype=np.int64))
    assert got.dtype == np.int64
    assert got.tolist() == [row_of.get(q, 0) for q in queries]
    assert vocab.size == len(known) + 1


def test_logit_is_mlp_plus_biases_plus_dot_product() -> None:
    torch.manual_seed(0)
    model = ClickModel(n_users=4, n_items=5, n_dense=3, embed_dim=2, hidden=(6,))
    with torch.no_grad():
        for table in (
            model.user_embedding,
            model.item_embedding,
            model.user_bias,
            model.item_bias,
        ):
            table.weight.normal_()
    user, item = torch.tensor([0, 3, 1]), torch.tensor([4, 0, 2])
    dense = torch.randn(3, 3)
    logits = model(user, item, dense)
    assert logits.shape == (3,)
    expected = (
        model.mlp(dense).squeeze(1)
        + model.user_bias.weight[user, 0]
        + model.item_bias.weight[item, 0]
        + (model.user_embedding.weight[user] * model.item_embedding.weight[item]).sum(1)
    )
    torch.testing.assert_close(logits, expected)
    concat = ClickModel(
        n_users=4, n_items=5, n_dense=3, embed_dim=2, hidden=(6,), interaction="concat"
    )
    with torch.no_grad():
        concat.user_bias.weight.normal_()
        concat.item_bias.weight.normal_()
    assert concat.mlp[0].in_features == 3 + 2 * 2
    inputs = torch.cat(
        [concat.user_embedding(user), concat.item_embedding(item), dense], dim=1
    )
    torch.testing.assert_close(
        concat(user, item, dense),
        concat.mlp(inputs).squeeze(1)
        + concat.user_bias.weight[user, 0]
        + concat.item_bias.weight[item, 0],
        msg="concat: the logit is MLP([e_user, e_item, dense]) + both biases",
    )


def test_layers_and_their_initial_values() -> None:
    torch.manual_seed(0)
    model = ClickModel(n_users=2000, n_items=1000, n_dense=5, hidden=(16, 8))
    layers = [type(m).__name__ for m in model.mlp]
    assert layers == ["Linear", "ReLU", "Linear", "ReLU", "Linear"], (
        f"the MLP must be Linear+ReLU per hidden width, then a Linear to 1 (no "
        f"activation on the logit), got {layers}"
    )
    widths = [(m.in_features, m.out_features) for m in model.mlp[::2]]
    assert widths == [(5, 16), (16, 8), (8, 1)], widths
    for table in (model.user_bias, model.item_bias):
        assert table.weight.shape[1] == 1 and not table.weight.any(), (
            "biases start at 0"
        )
    for table in (model.user_embedding, model.item_embedding):
        assert table.weight.shape[1] == 8
        std = float(table.weight.detach().std())
        assert 0.009 < std < 0.011, f"embeddings start as N(0, 0.01), got std {std:.4f}"


def test_train_epoch_steps_once_per_batch_on_the_loss_plus_penalty() -> None:
    """One epoch against a plain PyTorch loop (SGD, so no step hides a bug)."""
    torch.manual_seed(0)
    n, n_dense, embed_l2 = 50, 3, 0.3
    rows = Tensors(
        user=torch.randint(0, 4, (n,)),
        item=torch.randint(0, 5, (n,)),
        dense=torch.randn(n, n_dense),
        label=(torch.rand(n) < 0.3).float(),
    )
    model = ClickModel(n_users=4, n_items=5, n_dense=n_dense, embed_dim=2, hidden=(6,))
    with torch.no_grad():  # big enough that the penalty matters
        for table in (model.user_embedding, model.item_embedding):
            table.weight.normal_()
    twin = copy.deepcopy(model)
    order = torch.randperm(n)
    batch = 16  # 50 rows: batches of 16, 16, 16 and a last one of 2
    mean_loss = train_epoch(
        model, rows, order, batch, torch.optim.SGD(model.parameters(), lr=0.5), embed_l2
    )
    optimizer = torch.optim.SGD(twin.parameters(), lr=0.5)
    losses = []
    for start in range(0, n, batch):
        idx = order[start : start + batch]
        u, i = rows.user[idx], rows.item[idx]
        logits = twin(u, i, rows.dense[idx])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, rows.label[idx]
        ) + embed_l2 * twin.penalty(u, i)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    for (name, got), want in zip(
        model.state_dict().items(), twin.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(
            got,
            want,
            msg=lambda m, name=name: (
                f"{name} after one epoch differs from a plain "
                f"loop (BCE-with-logits + embed_l2 * penalty, zero_grad, backward, step "
                f"per batch, the last batch too): {m}"
            ),
        )
    assert mean_loss == pytest.approx(np.mean(losses), rel=1e-6)


def test_two_runs_give_identical_weights(tiny_set, splits) -> None:
    config = TrainConfig(max_epochs=2, seed=7)
    train, valid = splits.train.iloc[-10_000:], splits.valid.iloc[:3000]
    runs = [
        fit(train, valid, tiny_set.features, tiny_set.defaults, config)
        for _ in range(2)
    ]
    first, second = (r.predictor.model.state_dict() for r in runs)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    other = fit(
        train,
        valid,
        tiny_set.features,
        tiny_set.defaults,
        config.replace(seed=8),
    )
    assert not torch.equal(
        other.predictor.model.state_dict()["mlp.0.weight"], first["mlp.0.weight"]
    )


def test_early_stopping_restores_the_best_epoch(trained, splits) -> None:
    history = trained.history
    aucs = [h.valid_auc for h in history]
    assert trained.best_epoch == int(np.argmax(aucs)) + 1
    if trained.stopped_early:
        assert len(history) == trained.best_epoch + trained.config.patience
    else:
        assert len(history) == trained.config.max_epochs
    # The weights returned are the best epoch's, not the last one's.
    valid = evaluate(splits.valid["clicked"], trained.predictor.predict(splits.valid))
    assert valid["auc"] == pytest.approx(max(aucs), abs=1e-9)


def test_stops_after_patience_epochs_without_a_better_auc(tiny_set, splits) -> None:
    config = TrainConfig(patience=1, max_epochs=6)
    run = fit(splits.train, splits.valid, tiny_set.features, tiny_set.defaults, config)
    aucs = [h.valid_auc for h in run.history]
    # The rule by brute force: stop at the first epoch that is `patience` epochs
    # past the best so far.
    stop = next(
        (
            e
            for e in range(1, len(aucs) + 1)
            if e - (int(np.argmax(aucs[:e])) + 1) >= config.patience
        ),
        config.max_epochs,
    )
    assert run.stopped_early, (
        f"validation AUCs {aucs} fall after a best epoch, yet training did not stop "
        f"early with patience {config.patience}"
    )
    assert len(aucs) == stop, (
        f"with patience {config.patience} training stops at epoch {stop} (AUCs "
        f"{aucs}), it ran {len(aucs)}"
    )
    assert run.best_epoch == int(np.argmax(aucs)) + 1


def test_closes_half_the_gap_to_bayes_on_tiny(trained, splits) -> None:
    test = splits.test
    figures = evaluate(
        test["clicked"], trained.predictor.predict(test), test["p_click"]
    )
    assert figures["gap_closed"] >= 0.5, figures
    assert figures["ece"] < 0.03, figures


def test_not_worse_than_the_baseline(trained, baseline, splits) -> None:
    test = splits.test
    base_auc = evaluate(test["clicked"], predict_baseline(baseline, test))["auc"]
    mlp_auc = evaluate(test["clicked"], trained.predictor.predict(test))["auc"]
    assert mlp_auc >= base_auc - 0.005, (mlp_auc, base_auc)


def test_scores_do_not_depend_on_the_batch_or_threads(trained, splits) -> None:
    rows = splits.test.iloc[:300]
    predictor = trained.predictor
    batch = predictor.predict(rows)
    one_by_one = np.array(
        [predictor.predict(rows.iloc[[i]])[0] for i in range(0, 300, 3)]
    )
    assert np.array_equal(batch[::3], one_by_one)
    as_dict = {
        c: rows[c].to_numpy() for c in ["user_id", "item_id", *predictor.features]
    }
    assert np.array_equal(predictor.predict(as_dict), batch)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2 if saved == 1 else 1)
        assert np.array_equal(predictor.predict(rows), batch)
    finally:
        torch.set_num_threads(saved)


def test_unknown_ids_and_missing_features_get_the_documented_defaults(
    trained, splits
) -> None:
    predictor = trained.predictor
    rows = splits.test.iloc[:50].copy()
    unknown = rows.assign(user_id=10**12, item_id=-5)
    encoded = predictor.preprocessor.encode(unknown)
    assert (encoded.user == 0).all() and (encoded.item == 0).all()
    blanks = rows.copy()
    blanks[predictor.features] = np.nan
    filled = rows.copy()
    filled[predictor.features] = np.asarray(predictor.preprocessor.fill)
    assert np.array_equal(predictor.predict(blanks), predictor.predict(filled))
    assert np.isfinite(predictor.predict(unknown)).all()


class _ModeProbe(torch.nn.Module):
    """Records whether its dropout was in training mode at each call."""

    def __init__(self, dense: int) -> None:
        super().__init__()
        self.drop = torch.nn.Dropout(0.5)
        self.linear = torch.nn.Linear(dense, 1)
        self.seen: list[bool] = []

    def forward(self, user, item, dense):
        self.seen.append(self.drop.training)
        return self.linear(self.drop(dense)).squeeze(1)


@pytest.mark.given
@pytest.mark.parametrize("mode", ["train", "eval", "only the child trains"])
def test_scoring_runs_in_eval_mode_and_leaves_each_modules_mode_as_it_was(
    mode,
) -> None:
    from labs.training.features import Encoded
    from labs.training.predictor import logits_in_blocks

    probe = _ModeProbe(3)
    probe.train(mode == "train")
    if mode == "only the child trains":
        probe.drop.train()
    before = {name: m.training for name, m in probe.named_modules()}
    rng = np.random.default_rng(0)
    rows = Encoded(
        np.zeros(300, np.int64),
        np.zeros(300, np.int64),
        rng.random((300, 3), np.float32),
    )
    first = logits_in_blocks(probe, rows)
    assert probe.seen == [False, False]  # two blocks, both without dropout
    assert {name: m.training for name, m in probe.named_modules()} == before
    assert np.array_equal(first, logits_in_blocks(probe, rows))  # deterministic

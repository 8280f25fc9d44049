"""m3 — the PyTorch click model: architecture, determinism, early stopping, quality."""

from __future__ import annotations

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
    fit_baseline,
    predict_baseline,
)


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
    assert concat(user, item, dense).shape == (3,)
    assert concat.mlp[0].in_features == 3 + 2 * 2


def test_two_runs_give_identical_weights(tiny_set, splits) -> None:
    config = TrainConfig(max_epochs=2, seed=7)
    runs = [
        fit(splits.train, splits.valid, tiny_set.features, tiny_set.defaults, config)
        for _ in range(2)
    ]
    first, second = (r.predictor.model.state_dict() for r in runs)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    other = fit(
        splits.train,
        splits.valid,
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


def test_closes_half_the_gap_to_bayes_on_tiny(trained, splits) -> None:
    test = splits.test
    figures = evaluate(
        test["clicked"], trained.predictor.predict(test), test["p_click"]
    )
    assert figures["gap_closed"] >= 0.5, figures
    assert figures["ece"] < 0.03, figures


def test_not_worse_than_the_baseline(trained, tiny_set, splits) -> None:
    test = splits.test
    baseline = fit_baseline(splits.train, tiny_set.features, tiny_set.defaults)
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

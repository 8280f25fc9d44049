"""m1 — the batch predictor: loads the registered model once, scores whole batches.

The oracle is the registered model itself, called one row at a time: a
row's score must not depend on the batch it arrives in.
"""

from __future__ import annotations

import shutil
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.batch_serving import BatchPredictor
from labs.training import ModelRegistry, RegistryError


@pytest.fixture(scope="module")
def rows(model) -> pd.DataFrame:
    """400 training-set rows: keys, event time and every feature the model reads."""
    from labs.training import load_training_set

    frame = load_training_set("tiny", seed=0).frame
    return frame.sample(400, random_state=3).reset_index(drop=True)


@pytest.fixture(scope="module")
def predictor(model) -> BatchPredictor:
    return BatchPredictor(model.registry_root, "production")


def one_at_a_time(model, frame: pd.DataFrame) -> np.ndarray:
    return np.array([model.predict(frame.iloc[[i]])[0] for i in range(len(frame))])


def test_scores_equal_the_registered_model_row_by_row(model, rows, predictor) -> None:
    out = predictor(rows)
    assert isinstance(out, pd.DataFrame) and len(out) == len(rows)
    np.testing.assert_allclose(
        out["score"], one_at_a_time(model, rows), rtol=0, atol=1e-12
    )
    assert ((out["score"] > 0) & (out["score"] < 1)).all()
    # Every input column survives, in order, before the two new ones.
    assert list(out.columns) == [*rows.columns, "score", "model_version"]
    assert (out["model_version"] == model.version).all()
    assert predictor.version == ModelRegistry(model.registry_root).resolve("production")


def test_a_dict_of_arrays_scores_the_same_as_a_frame(rows, predictor) -> None:
    batch = {name: rows[name].to_numpy() for name in rows.columns}
    out = predictor(batch)
    assert isinstance(out, dict)
    np.testing.assert_array_equal(out["score"], predictor(rows)["score"].to_numpy())
    assert list(out["model_version"]) == [predictor.version] * len(rows)
    np.testing.assert_array_equal(out["user_id"], batch["user_id"])


@settings(max_examples=15)
@given(cuts=st.lists(st.integers(min_value=1, max_value=399), max_size=6, unique=True))
def test_a_rows_score_does_not_depend_on_its_batch(rows, predictor, cuts) -> None:
    whole = predictor(rows)["score"].to_numpy()
    bounds = [0, *sorted(cuts), len(rows)]
    pieces = [
        predictor(rows.iloc[a:b])["score"].to_numpy() for a, b in pairwise(bounds)
    ]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_the_model_is_loaded_once_not_per_batch(model, rows, monkeypatch) -> None:
    loads = []
    original = ModelRegistry.load

    def counting(self, ref="production"):
        loads.append(ref)
        return original(self, ref)

    monkeypatch.setattr(ModelRegistry, "load", counting)
    predictor = BatchPredictor(model.registry_root, "production")
    for start in range(0, 400, 100):
        predictor(rows.iloc[start : start + 100])
    assert len(loads) == 1


def test_the_alias_is_resolved_once_and_a_version_can_be_pinned(
    model, rows, tmp_path
) -> None:
    root = tmp_path / "registry"
    shutil.copytree(model.registry_root, root)
    registry = ModelRegistry(root)
    before = BatchPredictor(root, "production")
    newer = registry.register(registry.load(model.version), dict(model.metadata))
    registry.promote(newer, "production")
    after = BatchPredictor(root, "production")
    pinned = BatchPredictor(root, model.version)
    assert before.version == pinned.version == model.version
    assert after.version == newer != model.version
    assert (
        before(rows)["model_version"] == model.version
    ).all()  # the move is not seen
    assert (after(rows)["model_version"] == newer).all()


def test_an_unknown_version_is_a_clear_error(model) -> None:
    with pytest.raises(RegistryError, match=r"v9999.*registered"):
        BatchPredictor(model.registry_root, "v9999")


def test_an_empty_batch_scores_to_an_empty_batch(rows, predictor) -> None:
    out = predictor(rows.iloc[:0])
    assert len(out) == 0 and {"score", "model_version"} <= set(out.columns)


@pytest.mark.given
def test_a_missing_feature_column_is_named(rows, predictor) -> None:
    feature = predictor.features[3]
    with pytest.raises(ValueError, match=feature):
        predictor(rows.drop(columns=[feature]))

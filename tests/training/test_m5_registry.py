"""m5 — the model registry: versions, checksums, weights-only loading, atomic aliases."""

from __future__ import annotations

import json
import os
import pathlib
import threading

import numpy as np
import pytest
import torch

from labs.training import (
    IntegrityError,
    LoadedModel,
    ModelRegistry,
    RegistryError,
    ensure_production_model,
    evaluate,
)


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry")


@pytest.fixture
def facts(trained, tiny_set, splits) -> dict:
    test = splits.test
    return {
        "metrics": {"test": evaluate(test["clicked"], trained.predictor.predict(test))},
        "data_fingerprint": tiny_set.fingerprint,
        "seed": trained.config.seed,
    }


class Trap:
    """A pickled object that would create a file if it were ever unpickled."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_reload_gives_identical_predictions(registry, trained, splits, facts) -> None:
    version = registry.register(trained.predictor, facts)
    loaded = registry.load(version)
    assert isinstance(loaded, LoadedModel) and loaded.version == version
    rows = splits.test
    assert np.array_equal(loaded.predict(rows), trained.predictor.predict(rows))
    saved = trained.predictor.model.state_dict()
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, saved[name]), name


def test_metadata_describes_the_model(registry, trained, tiny_set, facts) -> None:
    version = registry.register(trained.predictor, facts)
    meta = registry.load(version).metadata
    assert meta["features"] == tiny_set.features  # names and order
    assert meta["defaults"] == dict(
        zip(tiny_set.features, trained.predictor.preprocessor.fill, strict=True)
    )
    assert (
        meta["data_fingerprint"] == tiny_set.fingerprint
        and meta["seed"] == trained.config.seed
    )
    assert meta["metrics"]["test"]["auc"] == facts["metrics"]["test"]["auc"]
    assert meta["created"].endswith("+00:00") and meta["version"] == version
    assert meta["preprocessing"]["vocab"]["user_id"]["oov_index"] == 0
    with pytest.raises(ValueError, match="data_fingerprint"):
        registry.register(trained.predictor, {"metrics": {}, "seed": 0})


def test_versions_aliases_and_rollback(registry, trained, facts) -> None:
    first = registry.register(trained.predictor, facts)
    second = registry.register(trained.predictor, facts)
    assert registry.versions() == [first, second] and first != second
    with pytest.raises(RegistryError, match="production"):
        registry.resolve("production")
    registry.promote(second, "production")
    assert registry.resolve("production") == second
    assert registry.load("production").version == second
    registry.promote(first, "production")  # rollback
    registry.promote(second, "staging")
    assert registry.aliases() == {"production": first, "staging": second}
    with pytest.raises(RegistryError, match="v9999"):
        registry.promote("v9999")


def test_a_tampered_file_is_refused(registry, trained, facts) -> None:
    version = registry.register(trained.predictor, facts)
    folder = registry.root / "versions" / version
    weights = folder / "model.pt"
    blob = bytearray(weights.read_bytes())
    blob[-10] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="sha256"):
        registry.load(version)
    other = registry.register(trained.predictor, facts)
    meta_path = registry.root / "versions" / other / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["metrics"]["test"]["auc"] = 0.99  # a better-looking model
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IntegrityError, match=r"metadata\.json"):
        registry.load(other)


def test_pickled_objects_are_never_unpickled(
    registry, trained, facts, tmp_path
) -> None:
    version = registry.register(trained.predictor, facts)
    folder = registry.root / "versions" / version
    marker = tmp_path / "code-ran"
    torch.save({"mlp.0.weight": Trap(marker)}, folder / "model.pt")
    # The attacker also rewrites the checksum: only weights-only loading stops this.
    sums = json.loads((folder / "checksums.json").read_text())
    import hashlib

    sums["model.pt"] = hashlib.sha256((folder / "model.pt").read_bytes()).hexdigest()
    (folder / "checksums.json").write_text(json.dumps(sums))
    with pytest.raises(RegistryError):
        registry.load(version)
    assert not marker.exists()


def test_alias_updates_are_atomic_for_readers(registry, trained, facts) -> None:
    versions = [registry.register(trained.predictor, facts) for _ in range(2)]
    registry.promote(versions[0])
    stop = threading.Event()
    errors: list[BaseException] = []

    def flip() -> None:
        k = 0
        try:
            while not stop.is_set():
                registry.promote(versions[k % 2])
                k += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=flip, daemon=True)
    writer.start()
    try:
        seen = {registry.resolve("production") for _ in range(400)}
    finally:
        stop.set()
        writer.join(timeout=10)
    assert not writer.is_alive(), "promote() did not return within 10 s"
    assert not errors and seen <= set(versions)
    assert sorted(p.name for p in (registry.root / "aliases").iterdir()) == [
        "production"
    ]


def test_concurrent_registers_get_distinct_versions(registry, trained, facts) -> None:
    made: list[str] = []

    def register() -> None:
        for _ in range(3):
            made.append(registry.register(trained.predictor, facts))

    threads = [threading.Thread(target=register, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "register() hung for 30 s"
    assert len(made) == 6 and sorted(made) == registry.versions()
    for version in made:
        registry.metadata(version)  # every one intact


def test_a_failed_register_leaves_no_version_behind(registry, trained, facts) -> None:
    broken = {**facts, "metrics": {"test": {"auc": object()}}}  # not JSON
    with pytest.raises(TypeError):
        registry.register(trained.predictor, broken)
    assert registry.versions() == []
    left = sorted(p.name for p in (registry.root / "versions").iterdir())
    assert left == [], f"a failed register left {left} in versions/"
    assert registry.register(trained.predictor, facts) == "v0001"


def test_register_takes_the_next_number_when_one_is_taken(
    registry, trained, facts, monkeypatch
) -> None:
    first = registry.register(trained.predictor, facts)
    before = (registry.root / "versions" / first / "model.pt").read_bytes()
    # Another process registers between our listing and our rename: the first
    # listing we see is stale and misses the version it took.
    stale = [[]]  # what the first call returns; later calls see the folder
    real = ModelRegistry.versions
    monkeypatch.setattr(
        registry, "versions", lambda: stale.pop() if stale else real(registry)
    )
    second = registry.register(trained.predictor, facts)
    assert second == "v0002", f"the taken number must be skipped, got {second}"
    monkeypatch.undo()
    assert registry.versions() == [first, second]
    assert (registry.root / "versions" / first / "model.pt").read_bytes() == before
    assert registry.metadata(first)["version"] == first  # untouched, still verified
    assert registry.metadata(second)["version"] == second


def test_promote_renames_a_complete_file_over_the_alias(
    registry, trained, facts, monkeypatch
) -> None:
    first, second = (registry.register(trained.predictor, facts) for _ in range(2))
    registry.promote(first)
    alias = registry.root / "aliases" / "production"
    held = registry.root / "reader-holds-this"
    os.link(alias, held)  # a reader that opened the alias before the promotion
    moves: list[tuple[str, str]] = []
    real_replace, real_rename = os.replace, os.rename

    def spy(real):
        def move(src, dst, *args, **kwargs):
            if pathlib.Path(dst) == alias:
                moves.append((str(src), pathlib.Path(src).read_text()))
            return real(src, dst, *args, **kwargs)

        return move

    monkeypatch.setattr(os, "replace", spy(real_replace))
    monkeypatch.setattr(os, "rename", spy(real_rename))
    registry.promote(second)
    monkeypatch.undo()
    assert moves, (
        "promote must write a temporary file and rename it over the alias "
        "(os.replace); writing the alias in place lets a reader see half a file"
    )
    assert [content.strip() for _, content in moves] == [second], (
        f"the file renamed over the alias held {moves[-1][1]!r} at that moment: "
        "close (flush) it before the rename"
    )
    assert held.read_text().strip() == first, "the old alias file was rewritten"
    assert registry.resolve("production") == second
    assert sorted(p.name for p in alias.parent.iterdir()) == ["production"]


def test_ensure_production_model_trains_once_then_loads(tmp_path, splits) -> None:
    root = tmp_path / "prod"
    first = ensure_production_model("tiny", root=root)
    again = ensure_production_model("tiny", root=root)
    registry = ModelRegistry(root)
    assert first.version == again.version == registry.resolve("production")
    assert registry.versions() == [first.version]
    assert first.registry_root == root
    assert np.array_equal(first.predict(splits.test), again.predict(splits.test))
    assert first.metadata["metrics"]["test"]["gap_closed"] >= 0.5

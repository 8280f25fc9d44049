"""m2 — the Ray Data pipeline: read partitions, score on an actor pool, regroup, count.

``regroup`` is checked without Ray against hand-made blocks in any order;
the pipeline end to end (``scored_job``, ``score_partitions`` run once per
session on 2 actors) against the offline oracle: the training lab's
point-in-time training set scored in one call.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import random
import sys
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.batch_serving import list_partitions, plan_job, regroup
from labs.batch_serving.reader import PARTITION

SIZES = (1, 2, 7, 30, 64)  # rows of the hand-made partitions


@pytest.fixture(scope="module")
def small_partitions(tmp_path_factory):
    """Five partitions with known ids, and their rows as 'scored' output."""
    root = tmp_path_factory.mktemp("regroup")
    next_id = 0
    scored = []
    for i, n in enumerate(SIZES):
        ids = np.arange(next_id, next_id + n, dtype=np.int64) * 3  # not contiguous
        next_id += n
        folder = root / f"event_date=2024-03-0{i + 1}"
        folder.mkdir()
        pq.write_table(pa.table({"impression_id": ids}), folder / "part-0.parquet")
        scored.append(
            pa.table(
                {
                    "impression_id": ids,
                    "user_id": ids % 11,
                    "item_id": ids % 13,
                    "event_timestamp": pa.array(
                        ids * 1_000_000, pa.timestamp("us", tz="UTC")
                    ),
                    "score": ids / (ids.max() + 1.0),
                    "model_version": pa.array(["v0001"] * n, pa.string()),
                    PARTITION: pa.array(np.full(n, i, dtype=np.int32)),
                }
            )
        )
    return list_partitions(root), pa.concat_tables(scored)


def shuffled_blocks(table: pa.Table, seed: int, n_blocks: int) -> list[pa.Table]:
    order = np.random.default_rng(seed).permutation(table.num_rows)
    shuffled = table.take(pa.array(order))
    cuts = sorted(random.Random(seed).sample(range(1, table.num_rows), n_blocks - 1))
    bounds = [0, *cuts, table.num_rows]
    return [shuffled.slice(a, b - a) for a, b in pairwise(bounds)]


@settings(max_examples=30)
@given(seed=st.integers(0, 10_000), n_blocks=st.integers(1, 40))
def test_regroup_yields_every_partition_once_and_whole(
    small_partitions, seed, n_blocks
) -> None:
    partitions, table = small_partitions
    done = list(regroup(shuffled_blocks(table, seed, n_blocks), partitions))
    assert sorted(d.partition.name for d in done) == [p.name for p in partitions]
    for d in done:
        expected = pq.read_table(d.partition.files[0])["impression_id"].to_numpy()
        np.testing.assert_array_equal(d.table["impression_id"].to_numpy(), expected)
        assert PARTITION not in d.table.column_names  # bookkeeping is dropped


def test_a_partition_is_handed_on_as_soon_as_it_is_complete(small_partitions) -> None:
    partitions, table = small_partitions
    by_partition = table.sort_by(PARTITION)  # partition 0's row, then 1's, ...
    blocks = iter([by_partition.slice(i, 1) for i in range(by_partition.num_rows)])
    stream = regroup(blocks, partitions)
    first = next(stream)
    assert first.partition.name == partitions[0].name
    # Only that partition's single row has been consumed from the blocks.
    assert next(blocks)[PARTITION].to_pylist() == [1]


def test_regroup_refuses_lost_and_repeated_rows(small_partitions) -> None:
    partitions, table = small_partitions
    with pytest.raises(RuntimeError, match="short"):
        list(regroup([table.slice(0, table.num_rows - 1)], partitions))
    with pytest.raises(RuntimeError, match="twice"):
        list(regroup([table, table.slice(table.num_rows - 1, 1)], partitions))


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)  # the first one starts the session's Ray and runs the job
def test_the_job_scores_equal_the_offline_predictions(
    scored_job, offline_scores
) -> None:
    out = pa.concat_tables([p.table for p in scored_job.partitions]).to_pandas()
    assert len(out) == len(offline_scores) == scored_job.plan.rows
    assert out["impression_id"].is_unique
    scores = out.set_index("impression_id")["score"].sort_index()
    np.testing.assert_array_equal(
        scores.index.to_numpy(), offline_scores.index.to_numpy()
    )
    np.testing.assert_allclose(
        scores.to_numpy(), offline_scores.to_numpy(), rtol=0, atol=1e-9
    )
    assert (out["model_version"] == scored_job.plan.version).all()


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)  # the first one starts the session's Ray and runs the job
def test_every_partition_comes_out_whole_and_sorted_by_id(scored_job) -> None:
    names = [p.partition.name for p in scored_job.partitions]
    assert sorted(names) == [p.name for p in scored_job.plan.partitions]
    for done in scored_job.partitions:
        ids = done.table["impression_id"].to_numpy()
        assert len(ids) == done.partition.rows
        assert (np.diff(ids) > 0).all()  # sorted, no id twice
        assert done.table.column_names == [
            "impression_id", "user_id", "item_id", "event_timestamp", "score",
            "model_version",
        ]  # fmt: skip
    assert scored_job.stats.rows == scored_job.plan.rows


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)  # the first one starts the session's Ray and runs the job
def test_every_actor_of_the_pool_scored_rows(scored_job) -> None:
    workers = scored_job.rows_by_worker
    assert len(workers) == 2, (
        f"2 actors, but rows were scored by {len(workers)} process(es): {workers}"
    )
    assert sum(workers.values()) == scored_job.plan.rows
    nodes = scored_job.rows_by_node
    assert len(nodes) == 1 and "" not in nodes  # the session's one local node


@pytest.mark.given
def test_a_missing_key_column_stops_the_job_before_any_work(
    make_spec, tmp_path
) -> None:
    from labs.batch_serving.requests import shopstream_requests, write_requests

    root = tmp_path / "requests"
    write_requests(shopstream_requests("tiny").head(500), root)
    for file in root.rglob("*.parquet"):
        pq.write_table(pq.read_table(file).drop(["item_id"]), file)
    output = tmp_path / "out"
    with pytest.raises(ValueError, match="item_id"):
        plan_job(make_spec(output, input_dir=root))
    assert not output.exists()


@pytest.mark.given
def test_features_neither_in_the_input_nor_in_a_store_are_named(
    make_spec, tmp_path
) -> None:
    with pytest.raises(ValueError, match=r"user_activity:clicks_1h.*no feature store"):
        plan_job(make_spec(tmp_path / "out", store_root=None))


class _BrokenRay(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``ray`` and fails to load it, as a wheel missing a shared library does."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "ray" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError("libray_core.so: cannot open shared object file (simulated)")


@pytest.mark.given
def test_a_broken_ray_install_raises_instead_of_reading_as_no_ray(monkeypatch) -> None:
    """An actor must not report rows scored on no node because Ray is broken."""
    from labs.batch_serving.scorer import current_node_id

    monkeypatch.delitem(sys.modules, "ray", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenRay(), *sys.meta_path])
    with pytest.raises(ImportError, match="libray_core"):
        current_node_id()


@pytest.mark.given
def test_without_ray_installed_there_is_no_node(monkeypatch) -> None:
    from labs.batch_serving.scorer import current_node_id

    monkeypatch.setitem(sys.modules, "ray", None)  # what an absent package looks like
    assert current_node_id() == ""

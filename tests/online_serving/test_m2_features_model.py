"""m2 — features and model: one batched read, defaults for the missing, scores equal offline.

The skew test is the heart: for the same (user, item) the service's score
must equal the model's score on features from the *offline* path (the
point-in-time join at the time the online store was materialised to).
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from serving_contract import check_scores
from serving_helpers import settings_for

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def url(servers, registry_root) -> str:
    return servers.get(settings_for(2, registry_root)).url


@pytest.fixture(scope="module")
def items_without_stats(store) -> list[int]:
    """Items whose online row is missing or older than the TTL: their features are null."""
    ids = np.arange(1000)
    read = store.get_online_features({"item_id": ids}, ["item_stats:ctr_7d"])
    stale = read.missing["item_stats"] | read.expired["item_stats"]
    return ids[stale][:3].tolist()


def test_scores_equal_the_offline_scores(url, oracle, model, active_user) -> None:
    rng = np.random.default_rng(1)
    items = rng.choice(1000, size=40, replace=False).tolist()
    check_scores(url, oracle, model.version, active_user, items)


def test_missing_features_are_served_as_the_model_defaults(
    url, oracle, model, idle_user, active_user, items_without_stats
) -> None:
    """A user with no online row and items with none still score, like offline."""
    assert items_without_stats, "every tiny item has fresh stats; pick another case"
    items = [*items_without_stats, 1, 2, 3]
    check_scores(url, oracle, model.version, idle_user, items)
    check_scores(url, oracle, model.version, active_user, items_without_stats)


def test_rank_keeps_every_candidate_and_orders_ties_stably(url, active_user) -> None:
    items = [5, 17, 5, 42, 17, 5]  # repeats are scored, not dropped
    body = httpx.post(url + "/rank", json={"user_id": active_user, "item_ids": items})
    assert body.status_code == 200, body.text
    ranked = body.json()["items"]
    assert sorted(r["item_id"] for r in ranked) == sorted(items)
    by_item = {r["item_id"]: r["score"] for r in ranked}
    expected = sorted(range(len(items)), key=lambda k: (-by_item[items[k]], k))
    assert [r["item_id"] for r in ranked] == [items[k] for k in expected]


def test_one_online_read_per_view_for_a_whole_batch(store, model) -> None:
    """read_features makes one read_batch call per view, whatever the batch size."""
    from labs.online_serving import Job, read_features, stack_rows

    calls: list[tuple[str, int]] = []
    original = store.online.read_batch

    def counting(view, keys, features):
        calls.append((view, len(keys)))
        return original(view, keys, features)

    jobs = [
        Job(3, np.array([1, 2, 3])),
        Job(8, np.array([4])),
        Job(3, np.array([9, 1])),
    ]
    users, items = stack_rows(jobs)
    store.online.read_batch = counting
    try:
        got = read_features(
            store,
            users,
            items,
            model.metadata["features"],
            model.metadata["defaults"],
        )
    finally:
        del store.online.read_batch
    assert sorted(view for view, _ in calls) == sorted(store.views)
    assert all(n == 6 for _, n in calls), calls
    assert got["user_id"].tolist() == [3, 3, 3, 8, 3, 3]
    assert got["item_id"].tolist() == [1, 2, 3, 4, 9, 1]
    for name in model.metadata["features"]:
        assert not np.isnan(got[name]).any(), f"{name} has nulls: defaults not applied"


job_lists = st.lists(
    st.tuples(
        st.integers(0, 999),
        st.lists(st.integers(0, 999), min_size=1, max_size=7),
    ),
    min_size=1,
    max_size=12,
)


@given(jobs=job_lists)
def test_stack_then_split_gives_each_job_its_own_rows(jobs) -> None:
    from labs.online_serving import Job, split_scores, stack_rows

    batch = [Job(user, np.array(items, dtype=np.int64)) for user, items in jobs]
    users, items = stack_rows(batch)
    assert users.dtype == np.int64 and items.dtype == np.int64
    assert users.tolist() == [u for u, its in jobs for _ in its]
    assert items.tolist() == [i for _, its in jobs for i in its]
    # Score = a function of the row, so each job must get back exactly its rows' scores.
    scores = users * 1000.0 + items
    parts = split_scores(batch, scores)
    assert [p.tolist() for p in parts] == [
        [u * 1000.0 + i for i in its] for u, its in jobs
    ]


@given(scores=st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.25]), min_size=1, max_size=30))
def test_rank_order_is_descending_and_stable(scores) -> None:
    from labs.online_serving import rank_order

    order = rank_order(np.array(scores))
    assert order.tolist() == sorted(range(len(scores)), key=lambda k: (-scores[k], k))

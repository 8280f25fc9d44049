"""m4 — publish: each user's top items, through the feature store's OnlineStore.

``top_items`` is checked against a plain loop over rows on hand-made
scores full of ties and repeats, then the whole publish against the same
loop over the finished job's output, on the memory, SQLite and Redis
backends.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.batch_serving import publish_top_items, read_output, read_top_items, top_items
from labs.batch_serving.publish import VIEW, top_items_features
from labs.feature_store import open_online_store

T0 = pd.Timestamp("2024-03-04", tz="UTC")


def brute_top_items(
    scored: pd.DataFrame, top_n: int
) -> dict[int, tuple[int, list[tuple[int, float]]]]:
    """user -> (latest event µs, [(item, score)] best first), by plain loops."""
    latest: dict[tuple[int, int], tuple[int, int, float]] = {}
    for row in scored.itertuples(index=False):
        us = int(row.event_timestamp.value // 1000)
        key = (int(row.user_id), int(row.item_id))
        if key not in latest or (us, row.impression_id) > latest[key][:2]:
            latest[key] = (us, int(row.impression_id), float(row.score))
    users: dict[int, list[tuple[int, int, float]]] = {}
    for (user, item), (us, _, score) in latest.items():
        users.setdefault(user, []).append((us, item, score))
    out = {}
    for user, rows in users.items():
        ranked = sorted(rows, key=lambda r: (-r[2], r[1]))[:top_n]
        out[user] = (
            max(r[0] for r in rows),
            [(item, score) for _, item, score in ranked],
        )
    return out


scores_strategy = st.lists(
    st.tuples(
        st.integers(1, 4),  # user
        st.integers(1, 6),  # item
        st.integers(0, 5),  # minutes after T0: repeats and ties in time
        st.sampled_from([0.1, 0.5, 0.5, 0.9, 0.25]),  # ties in score
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60)
@given(rows=scores_strategy, top_n=st.integers(1, 4))
def test_top_items_match_a_plain_loop(rows, top_n) -> None:
    scored = pd.DataFrame(rows, columns=["user_id", "item_id", "minute", "score"])
    scored["impression_id"] = np.arange(len(scored)) * 7 % 101  # not in time order
    scored["event_timestamp"] = T0 + pd.to_timedelta(scored.pop("minute"), unit="min")
    wide = top_items(scored, top_n)
    expected = brute_top_items(scored, top_n)
    assert wide["user_id"].tolist() == sorted(expected)
    for row in wide.itertuples(index=False):
        latest_us, ranked = expected[row.user_id]
        assert row.event_us == latest_us
        items = [getattr(row, f"item_{k}") for k in range(1, top_n + 1)]
        scores = [getattr(row, f"score_{k}") for k in range(1, top_n + 1)]
        got = [
            (int(i), s) for i, s in zip(items, scores, strict=True) if not np.isnan(i)
        ]
        assert got == ranked
        assert all(
            np.isnan(s) for i, s in zip(items, scores, strict=True) if np.isnan(i)
        )


@pytest.fixture(scope="module")
def expected_slates(finished_job):
    return brute_top_items(read_output(finished_job.output), 10)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "kind", ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]
)
def test_publish_writes_every_users_slate_once(
    kind, finished_job, expected_slates, tmp_path, request
) -> None:
    options = {"memory": {}, "sqlite": {"path": tmp_path / "online.db"}}.get(kind)
    if kind == "redis":
        options = {"url": request.getfixturevalue("redis_url"), "namespace": "bs-test"}
    online = open_online_store(kind, **options)
    try:
        report = publish_top_items(finished_job.output, online)
        assert report.users == report.written == len(expected_slates)
        assert report.rows_read == finished_job.plan.rows
        assert report.model_version == finished_job.plan.version
        stored = online.scan(VIEW)
        assert stored.features == top_items_features(10)
        assert sorted(stored.keys) == sorted(str(u) for u in expected_slates)
        version = float(report.model_version.lstrip("v"))
        assert (stored.values[:, -1] == version).all()
        users = sorted(expected_slates)[:200]
        slates = read_top_items(online, users)
        for user, slate in zip(users, slates, strict=True):
            _, ranked = expected_slates[user]
            assert [i for i, _ in slate] == [i for i, _ in ranked]
            np.testing.assert_allclose(
                [s for _, s in slate], [s for _, s in ranked], rtol=0, atol=0
            )
        by_key = dict(zip(stored.keys, stored.event_us, strict=True))
        assert all(by_key[str(u)] == expected_slates[u][0] for u in users)
        assert read_top_items(online, ["no-such-user"]) == [[]]
        # Publishing the same job again changes nothing.
        again = publish_top_items(finished_job.output, online)
        assert again.written == 0
        rescanned = online.scan(VIEW)
        np.testing.assert_array_equal(rescanned.values, stored.values)
    finally:
        online.teardown()


@pytest.mark.slow
def test_a_newer_job_replaces_the_slates_and_an_older_one_does_not(
    finished_job, copy_output
) -> None:
    import json

    from labs.batch_serving.commit import JOB_FILE

    newer, older = copy_output(finished_job.output), copy_output(finished_job.output)
    for folder, shift in ((newer, 1), (older, -1)):
        job = json.loads((folder / JOB_FILE).read_text())
        job["created_us"] += shift
        (folder / JOB_FILE).write_text(json.dumps(job))
    online = open_online_store("memory")
    first = publish_top_items(finished_job.output, online)
    assert publish_top_items(older, online).written == 0  # not newer: ignored
    assert publish_top_items(newer, online).written == first.users  # newer: replaces


@pytest.mark.slow
@pytest.mark.given
def test_an_unfinished_job_is_not_published(finished_job, copy_output) -> None:
    import json

    from labs.batch_serving.commit import MANIFEST

    output = copy_output(finished_job.output)
    manifest = json.loads((output / MANIFEST).read_text())
    dropped = sorted(manifest["partitions"])[5]
    del manifest["partitions"][dropped]
    (output / MANIFEST).write_text(json.dumps(manifest))
    online = open_online_store("memory")
    with pytest.raises(ValueError, match=r"11 of 12 partitions committed"):
        publish_top_items(output, online)
    assert online.scan(VIEW).keys == []

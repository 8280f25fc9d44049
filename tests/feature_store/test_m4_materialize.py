"""m4: materialisation writes each entity's latest row; event time wins; reruns change nothing."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
from fs_helpers import BACKENDS, HOUR_US, from_micros, latest_rows, micros, utc
from hypothesis import example, given, settings
from hypothesis import strategies as st

from infra.ports import free_port
from labs.feature_store import (
    FeatureStore,
    OnlineBatch,
    OnlineStoreUnavailable,
    latest_per_entity,
    open_online_store,
)

T0 = 1_709_546_400_000_000  # 2024-03-04 10:00 UTC
START, MIDDLE = utc("2024-03-04"), utc("2024-03-05 12:00")


def expected_online(
    store: FeatureStore, view: str, start: pd.Timestamp, end: pd.Timestamp
):
    """The latest row per entity in [start, end], from the feature rows, by loops."""
    v = store.views[view]
    rows = store.feature_rows(view)
    latest = latest_rows(
        rows, v.entity, micros(pd.Series([start]))[0], micros(pd.Series([end]))[0]
    )
    return (
        latest.assign(key=latest[v.entity].astype(str))
        .sort_values("key")
        .reset_index(drop=True)
    )


def assert_online_equals(
    store: FeatureStore, view: str, expected: pd.DataFrame
) -> None:
    scan = store.online.scan(view)
    v = store.views[view]
    assert list(scan.keys) == list(expected["key"])
    np.testing.assert_array_equal(scan.event_us, micros(expected["event_timestamp"]))
    np.testing.assert_array_equal(scan.values, expected[v.feature_names].to_numpy())


@settings(max_examples=40)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from([1, 2, 3]), st.integers(0, 8), st.integers(0, 2)),
        max_size=25,
    ),
    bounds=st.tuples(st.integers(0, 8), st.integers(0, 8)).map(sorted),
)
# A backfill: the row for an older event was created later; the newer event wins.
@example(rows=[(1, 5, 0), (1, 3, 2)], bounds=[0, 8])
def test_latest_per_entity_matches_brute_force(rows, bounds):
    frame = pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "event_timestamp": from_micros([T0 + r[1] * HOUR_US for r in rows]),
            "created_timestamp": from_micros([T0 + r[2] * HOUR_US for r in rows]),
            "f": np.arange(len(rows), dtype=float),
        }
    )
    start, end = (T0 + b * HOUR_US for b in bounds)
    got = latest_per_entity(frame, "user_id", ["f"], start, end)
    expected = latest_rows(frame, "user_id", start, end).sort_values("user_id")
    assert list(got["user_id"]) == list(expected["user_id"])
    np.testing.assert_array_equal(got["f"], expected["f"])
    np.testing.assert_array_equal(got["event_us"], micros(expected["event_timestamp"]))


@pytest.mark.parametrize("kind", BACKENDS)
def test_materialize_writes_each_entitys_latest_row(make_store, kind):
    store = make_store(kind)
    report = store.materialize(START, MIDDLE)
    for view in store.views:
        expected = expected_online(store, view, START, MIDDLE)
        assert report.entities[view] == report.written[view] == len(expected) > 0
        assert_online_equals(store, view, expected)
        assert store.watermark(view) == micros(pd.Series([MIDDLE]))[0]


@pytest.mark.parametrize("kind", BACKENDS)
def test_materialize_twice_changes_nothing(make_store, kind):
    store = make_store(kind)
    store.materialize(START, MIDDLE)
    before = {v: store.online.scan(v).to_frame() for v in store.views}
    again = store.materialize(START, MIDDLE)
    assert again.written == dict.fromkeys(store.views, 0)
    for view in store.views:
        pd.testing.assert_frame_equal(store.online.scan(view).to_frame(), before[view])


@pytest.mark.parametrize("kind", BACKENDS)
def test_incremental_runs_equal_one_full_run(make_store, kind):
    store = make_store(kind)
    end = utc("2024-03-06 18:00")
    for cut in (
        "2024-03-04 09:00",
        "2024-03-05 00:00",
        "2024-03-05 13:30",
        "2024-03-06 18:00",
    ):
        store.materialize_incremental(utc(cut))
    for view in store.views:
        assert_online_equals(store, view, expected_online(store, view, START, end))
    # A backfill of an old interval never rolls an entity back in time.
    assert sum(store.materialize(START, MIDDLE).written.values()) == 0
    for view in store.views:
        assert_online_equals(store, view, expected_online(store, view, START, end))


def test_the_watermark_survives_reopening(make_store):
    store = make_store("sqlite")
    with pytest.raises(ValueError, match="naive"):
        store.materialize_incremental(MIDDLE.tz_localize(None))
    store.materialize_incremental(MIDDLE.tz_convert("America/New_York"))  # same instant
    reopened = FeatureStore(store.root, online="sqlite")
    assert reopened.watermark("user_activity") == micros(pd.Series([MIDDLE]))[0]
    report = reopened.materialize_incremental(utc("2024-03-05 13:00"))
    assert report.start_us["user_activity"] == micros(pd.Series([MIDDLE]))[0] + 1
    assert 0 < report.written["user_activity"] < report.entities["user_activity"] + 1
    reopened.close()


def _batch(key: str, event_h: float, created_h: float, value: float) -> OnlineBatch:
    return OnlineBatch(
        [key],
        [T0 + int(event_h * HOUR_US)],
        [T0 + int(created_h * HOUR_US)],
        np.array([[value]]),
        ("x",),
    )


@pytest.mark.parametrize("kind", BACKENDS)
def test_event_time_wins(kind, tmp_path, request):
    options = {"path": tmp_path / "online.db"} if kind == "sqlite" else {}
    if kind == "redis":
        options = {"url": request.getfixturevalue("redis_url")}
    online = open_online_store(kind, **options)
    try:
        assert online.write_batch("v", _batch("a", 5, 5, 1.0)) == 1
        assert online.write_batch("v", _batch("a", 3, 9, 2.0)) == 0  # late but older
        assert online.write_batch("v", _batch("a", 5, 5, 3.0)) == 0  # same times: kept
        assert online.write_batch("v", _batch("a", 5, 6, 4.0)) == 1  # recomputed: wins
        assert (
            online.write_batch("v", _batch("a", 7, 7, np.nan)) == 1
        )  # nulls are values
        scan = online.scan("v")
        assert list(scan.keys) == ["a"] and np.isnan(scan.values[0, 0])
        assert scan.event_us[0] == T0 + 7 * HOUR_US
        # A batch with a mix: only the newer rows land.
        mixed = OnlineBatch(
            ["a", "b", "c"],
            [T0 + 6 * HOUR_US, T0, T0],
            [T0 + 6 * HOUR_US, T0, T0],
            np.array([[6.0], [1.0], [1.0]]),
            ("x",),
        )
        assert online.write_batch("v", mixed) == 2
        assert online.write_batch("v", mixed) == 0
        assert list(online.scan("v").keys) == ["a", "b", "c"]
    finally:
        online.teardown()


def _fail_writes_of(path, key: str, how: str) -> None:
    """Make SQLite raise when a row of ``key`` is written to view "v".

    ``RAISE(ABORT)`` undoes the failing statement and leaves the transaction
    open for the writer to roll back; ``RAISE(ROLLBACK)`` makes SQLite roll the
    whole transaction back itself, as it does on some I/O errors.
    """
    conn = sqlite3.connect(path)
    try:
        for op in ("INSERT", "UPDATE"):
            conn.execute(
                f'CREATE TRIGGER fail_{op.lower()} BEFORE {op} ON "fs__v" '
                f"WHEN NEW.entity_key = '{key}' "
                f"BEGIN SELECT RAISE({how}, 'bad row {key}'); END"
            )
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize("how", ["ABORT", "ROLLBACK"])
def test_a_failed_sqlite_batch_writes_nothing_and_keeps_the_store_usable(tmp_path, how):
    """One transaction per batch, rolled back on error, and the real error raised.

    Without the transaction the rows before the bad one stay written; without
    the rollback the open transaction keeps the write lock, and every later
    writer, in this process or another, waits and fails.
    """
    path = tmp_path / "online.db"
    online = open_online_store("sqlite", path=path)
    try:
        assert online.write_batch("v", _batch("a", 1, 1, 1.0)) == 1
        _fail_writes_of(path, "boom", how)
        bad = OnlineBatch(
            ["a", "b", "boom", "c"],
            np.full(4, T0 + 5 * HOUR_US),
            np.full(4, T0 + 5 * HOUR_US),
            np.full((4, 1), 5.0),
            ("x",),
        )
        with pytest.raises(sqlite3.Error, match="bad row boom"):
            online.write_batch("v", bad)
        other = sqlite3.connect(path, timeout=0.5, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # waits at most 0.5 s for the lock
            other.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            pytest.fail(f"the failed batch left the database locked for others: {exc}")
        finally:
            other.close()
        reader = open_online_store("sqlite", path=path)  # sees only what is committed
        try:
            scan = reader.scan("v")
        finally:
            reader.close()
        assert list(scan.keys) == ["a"], "a failed batch must write none of its rows"
        assert scan.event_us[0] == T0 + HOUR_US and scan.values[0, 0] == 1.0
        good = OnlineBatch(
            bad.keys[:2], bad.event_us[:2], bad.created_us[:2], bad.values[:2], ("x",)
        )
        assert online.write_batch("v", good) == 2  # the store still takes writes
    finally:
        online.teardown()


@pytest.mark.redis
def test_redis_never_overwrites_a_row_written_between_read_and_write(
    redis_url, monkeypatch
):
    """Another writer lands a newer row just after this writer has read the old one.

    Compare-and-set done in Python (read, compare, write) then overwrites the
    newer row with an older one. The comparison has to run on the server,
    atomically with the write: a Lua script.
    """
    import redis

    from labs.feature_store.online_redis import pack_rows

    online = open_online_store("redis", url=redis_url, namespace="race")
    rival = redis.Redis.from_url(redis_url)
    keys = ["a", "b"]
    old = OnlineBatch(keys, [T0, T0], [T0, T0], np.zeros((2, 1)), ("x",))
    mine = OnlineBatch(
        keys, np.full(2, T0 + 5 * HOUR_US), np.full(2, T0), np.ones((2, 1)), ("x",)
    )
    newer = OnlineBatch(
        keys,
        np.full(2, T0 + 9 * HOUR_US),
        np.full(2, T0),
        np.full((2, 1), 9.0),
        ("x",),
    )
    old_rows = set(pack_rows(old))
    state = {"armed": False, "rival_wrote": False}
    read_response = redis.connection.AbstractConnection.read_response

    def rival_writes_after_a_stale_read(self, *args, **kwargs):
        reply = read_response(self, *args, **kwargs)
        seen = reply if isinstance(reply, list) else [reply]
        if state["armed"] and any(r in old_rows for r in seen if isinstance(r, bytes)):
            state["armed"] = False  # once, and not for the rival's own reply
            rival.mset(
                dict(
                    zip(
                        [online.key("v", k) for k in keys],
                        pack_rows(newer),
                        strict=True,
                    )
                )
            )
            state["rival_wrote"] = True
        return reply

    try:
        assert online.write_batch("v", old) == 2
        monkeypatch.setattr(
            redis.connection.AbstractConnection,
            "read_response",
            rival_writes_after_a_stale_read,
        )
        state["armed"] = True
        online.write_batch("v", mine)
        state["armed"] = False
        scan = online.scan("v")
        winner = newer if state["rival_wrote"] else mine
        np.testing.assert_array_equal(
            scan.event_us,
            winner.event_us,
            err_msg="an older row overwrote a newer one written meanwhile",
        )
        np.testing.assert_array_equal(scan.values, winner.values)
    finally:
        state["armed"] = False
        online.teardown()
        rival.close()


def test_the_memory_store_keeps_its_own_copy_of_a_row():
    """The caller may reuse its arrays; a stored row must not change with them."""
    online = open_online_store("memory")
    batch = OnlineBatch(["a", "b"], [T0, T0], [T0, T0], np.ones((2, 2)), ("x", "y"))
    assert online.write_batch("v", batch) == 2
    batch.values[:] = -1.0  # e.g. a buffer refilled for the next batch
    np.testing.assert_array_equal(online.scan("v").values, np.ones((2, 2)))


@pytest.mark.redis
def test_redis_writes_are_pipelined(redis_url):
    import redis

    online = open_online_store("redis", url=redis_url, namespace="pipe")
    client = redis.Redis.from_url(redis_url)
    try:
        client.config_resetstat()
        n = 1_200
        batch = OnlineBatch(
            [str(i) for i in range(n)],
            np.full(n, T0),
            np.full(n, T0),
            np.ones((n, 2)),
            ("a", "b"),
        )
        assert online.write_batch("v", batch) == n
        stats = client.info("commandstats")
        calls = sum(
            v["calls"]
            for k, v in stats.items()
            if k in ("cmdstat_evalsha", "cmdstat_eval")
        )
        # One script call per chunk of keys, not one command per key.
        assert 1 <= calls <= 5
        assert stats.get("cmdstat_set", {}).get("calls", 0) >= n  # done on the server
        assert len(online.scan("v")) == n
    finally:
        online.teardown()
        client.close()


@pytest.mark.given
def test_unreachable_redis_names_the_url():
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(OnlineStoreUnavailable, match=f"cannot reach Redis at {url}"):
        open_online_store("redis", url=url, connect_timeout_s=0.5)


def test_a_view_keeps_its_features(tmp_path):
    online = open_online_store("sqlite", path=tmp_path / "o.db")
    with pytest.raises(ValueError, match="unknown online store kind 'dynamo'"):
        open_online_store("dynamo")
    online.write_batch("v", OnlineBatch(["a"], [T0], [T0], np.ones((1, 1)), ("x",)))
    with pytest.raises(ValueError, match=r"holds features \['x'\].*teardown"):
        online.write_batch("v", OnlineBatch(["a"], [T0], [T0], np.ones((1, 1)), ("y",)))
    online.teardown()


def test_the_run_pages_backfill_repairs_what_incremental_runs_miss(tiny, tmp_path):
    from labs.feature_store.measure import backfill_experiment

    outcome = backfill_experiment(tiny.impressions, tiny.items, tmp_path / "store")
    assert outcome["corrected_rows"] > 0
    assert outcome["incremental_written"] == 0  # the watermark is past that day
    assert sum(outcome["stale_entities"].values()) > 0
    assert sum(outcome["stale_after_backfill"].values()) == 0

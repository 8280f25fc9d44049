"""m5: batched online reads: request order, TTL, defaults, one round trip, and
online values equal to the point-in-time join at the materialisation time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fs_helpers import BACKENDS, from_micros, micros, utc

from labs.feature_store import USER_CATEGORY, build_store
from labs.feature_store.keys import user_category_keys

START, END = utc("2024-03-04"), utc("2024-03-07")
T = utc("2024-03-05 14:37")
USER_FEATURES = [
    "user_activity:clicks_1h",
    "user_activity:impressions_24h",
    "user_activity:ctr_24h",
    "user_activity:ctr_7d",
]
ITEM_FEATURES = ["item_stats:impressions_24h", "item_stats:ctr_24h"]


@pytest.mark.parametrize("kind", BACKENDS)
def test_reads_follow_the_request_order(make_store, kind):
    store = make_store(kind)
    store.materialize(START, END)
    scan = store.online.scan("user_activity").to_frame().set_index("entity_key")
    known = [int(k) for k in scan.index[:3]]
    request = pd.array(
        [known[2], known[0], 999_999, known[2], None, known[1]], dtype="Int64"
    )
    got = store.get_online_features({"user_id": request}, USER_FEATURES, now=END)
    assert list(got) == ["user_id", *USER_FEATURES]
    assert got.missing["user_activity"].tolist() == [
        False,
        False,
        True,
        False,
        True,
        False,
    ]
    missing = got.missing["user_activity"]
    assert not got.expired["user_activity"][missing].any()  # missing is not expired
    assert (got.event_us["user_activity"][missing] == 0).all()
    for i, key in enumerate(request):
        row = got.to_numpy(USER_FEATURES)[i]
        if pd.isna(key) or key == 999_999:
            assert np.isnan(row).all()
        else:
            stored = scan.loc[
                str(key), [f.split(":")[1] for f in USER_FEATURES]
            ].to_numpy(float)
            expired = (
                scan.loc[str(key), "event_us"]
                < micros(pd.Series([END]))[0] - 24 * 3600 * 10**6
            )
            np.testing.assert_array_equal(
                row, np.full(4, np.nan) if expired else stored
            )


@pytest.mark.parametrize("kind", BACKENDS)
def test_expired_rows_read_as_missing_then_defaults_apply(make_store, kind):
    store = make_store(kind)
    store.materialize(START, T)
    users = store.online.scan("user_activity")
    keys = [int(k) for k in users.keys]
    later = T + pd.Timedelta(hours=10)
    got = store.get_online_features(keys, USER_FEATURES, now=later)
    too_old = (
        users.event_us
        < micros(pd.Series([later]))[0] - store.views["user_activity"].ttl_us
    )
    assert too_old.any() and (~too_old).any()
    np.testing.assert_array_equal(got.expired["user_activity"], too_old)
    assert np.isnan(got["user_activity:clicks_1h"][too_old]).all()
    assert not np.isnan(got["user_activity:impressions_24h"][~too_old]).any()
    np.testing.assert_array_equal(got.event_us["user_activity"], users.event_us)
    defaults = store.default_values(USER_FEATURES)
    filled = store.get_online_features(
        keys, USER_FEATURES, now=later, defaults=defaults
    )
    assert (filled["user_activity:clicks_1h"][too_old] == 0.0).all()
    assert np.isnan(
        filled["user_activity:ctr_24h"][too_old]
    ).all()  # no default declared
    assert (
        filled.expired["user_activity"].tolist() == too_old.tolist()
    )  # still reported


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_row_exactly_one_ttl_old_is_still_served(make_store, kind):
    """Fresh means event_us >= now - ttl: the edge is served, a microsecond later is not."""
    store = make_store(kind)
    store.materialize(START, T)
    users = store.online.scan("user_activity")
    key, event_us = int(users.keys[0]), int(users.event_us[0])
    ttl_us = store.views["user_activity"].ttl_us
    stored = users.values[0, users.features.index("impressions_24h")]
    for late_us, expired in ((0, False), (1, True)):
        now = from_micros([event_us + ttl_us + late_us])[0]
        got = store.get_online_features([key], USER_FEATURES, now=now)
        assert got.expired["user_activity"].tolist() == [expired], f"now = {now}"
        value = got["user_activity:impressions_24h"][0]
        np.testing.assert_array_equal(value, np.nan if expired else stored)


@pytest.mark.parametrize("kind", BACKENDS)
def test_online_equals_point_in_time_at_materialisation_time(make_store, tiny, kind):
    """Training/serving skew is zero: online at T == the PIT join at T, every entity."""
    store = make_store(kind)
    store.materialize(START, T)
    for key, table, features in (
        ("user_id", tiny.users, USER_FEATURES),
        ("item_id", tiny.items, ITEM_FEATURES),
    ):
        ids = table[key].to_numpy()
        defaults = store.default_values(features)
        online = store.get_online_features({key: ids}, features, defaults=defaults)
        entity_df = pd.DataFrame({key: ids, "event_timestamp": T})
        offline = store.get_historical_features(entity_df, features, defaults=defaults)
        for feature in features:
            np.testing.assert_array_equal(
                online[feature], offline[feature].to_numpy(), err_msg=feature
            )
        assert (~online.missing[features[0].split(":")[0]]).sum() > 0


def test_sqlite_reads_a_batch_with_one_query(make_store, clean):
    store = make_store("sqlite")
    store.materialize(START, END)
    users = clean["user_id"].unique()[:100]
    store.get_online_features(
        users, USER_FEATURES
    )  # warm: the table's schema is cached
    statements: list[str] = []
    store.online.connection().set_trace_callback(statements.append)
    got = store.get_online_features(users, USER_FEATURES)
    store.online.connection().set_trace_callback(None)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    assert " IN (" in statements[0].upper()
    assert (~got.missing["user_activity"]).all()


@pytest.mark.redis
def test_redis_reads_a_batch_in_one_round_trip(make_store, clean, monkeypatch):
    import redis

    store = make_store("redis")
    store.materialize(START, END)
    users = clean["user_id"].unique()[:100]
    sent: list[int] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, *args, **kwargs):  # a real send, counted
        sent.append(1)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(
        redis.connection.AbstractConnection, "send_packed_command", counting
    )
    stats = redis.Redis.from_url(store.online.url)
    stats.config_resetstat()
    sent.clear()
    got = store.get_online_features(users, USER_FEATURES)
    round_trips = len(sent)
    commands = stats.info("commandstats")
    stats.close()
    assert round_trips == 1
    assert (~got.missing["user_activity"]).all()
    assert commands.get("cmdstat_mget", {}).get("calls") == 1
    assert "cmdstat_get" not in commands and "cmdstat_hmget" not in commands


def test_entity_rows_in_every_form(make_store):
    store = make_store("memory")
    store.materialize(START, END)
    ids = [int(k) for k in store.online.scan("user_activity").keys[:4]]
    expected = store.get_online_features(ids, USER_FEATURES).to_frame()
    for form in (
        np.array(ids),
        pd.Series(ids, dtype="Int64"),
        {"user_id": ids},
        pd.DataFrame({"user_id": ids, "other": 1}),
        [float(i) for i in ids],
    ):
        got = store.get_online_features(form, USER_FEATURES).to_frame()
        pd.testing.assert_frame_equal(got[USER_FEATURES], expected[USER_FEATURES])
    both = store.get_online_features(
        {"user_id": ids, "item_id": ids}, [USER_FEATURES[0], ITEM_FEATURES[0]]
    )
    assert list(both) == ["item_id", "user_id", USER_FEATURES[0], ITEM_FEATURES[0]]
    with pytest.raises(ValueError, match="plain list of ids is ambiguous"):
        store.get_online_features(ids, [USER_FEATURES[0], ITEM_FEATURES[0]])
    with pytest.raises(
        ValueError, match=r"unknown feature 'user_activity:nope'.*clicks_1h"
    ):
        store.get_online_features(ids, ["user_activity:nope"])
    with pytest.raises(ValueError, match=r"lack key columns \['item_id'\]"):
        store.get_online_features({"user_id": ids}, ITEM_FEATURES)


def test_build_store_caches_a_ready_store(tmp_path, tiny):
    root = tmp_path / "cache"
    store = build_store("tiny", root=root)
    first = (root / "build.json").stat().st_mtime_ns
    users = tiny.impressions["user_id"].dropna().unique()[:50]
    got = store.get_online_features(users, USER_FEATURES)
    assert (~got.missing["user_activity"]).any()
    assert (
        store.watermark("user_activity")
        == micros(tiny.impressions["event_timestamp"]).max()
    )
    store.close()
    again = build_store("tiny", root=root)  # current: reused, not rebuilt
    assert (root / "build.json").stat().st_mtime_ns == first
    pd.testing.assert_frame_equal(
        again.get_online_features(users, USER_FEATURES).to_frame(), got.to_frame()
    )
    again.close()
    marker = json.loads((root / "build.json").read_text())
    (root / "build.json").write_text(json.dumps({**marker, "code": "stale"}))
    rebuilt = build_store("tiny", root=root, online="memory")  # stale: rebuilt
    assert json.loads((root / "build.json").read_text())["code"] == marker["code"]
    pd.testing.assert_frame_equal(
        rebuilt.get_online_features(users, USER_FEATURES).to_frame(), got.to_frame()
    )
    rebuilt.close()


def test_online_reads_derive_the_pair_key_or_take_it_given(make_store, tiny):
    store = make_store("memory")
    first, last = store.event_range()
    store.materialize(first, last)
    sample = tiny.impressions.dropna(subset=["user_id"]).sample(50, random_state=3)
    users = sample["user_id"].to_numpy(dtype=np.int64)
    items = sample["item_id"].to_numpy(dtype=np.int64)
    features = store.feature_names("user_category")
    derived = store.get_online_features({"user_id": users, "item_id": items}, features)
    pairs = user_category_keys(users, items, store.item_categories)
    given_keys = store.get_online_features({USER_CATEGORY: pairs}, features)
    for name in features:
        np.testing.assert_array_equal(derived[name], given_keys[name])
    assert not derived.missing["user_category"].all()
    # ...and what the online store serves is the pair's latest feature row.
    rows = store.feature_rows("user_category")
    latest = (
        rows.sort_values(["event_timestamp", "created_timestamp"])
        .groupby(USER_CATEGORY)[features[0].split(":")[1]]
        .last()
    )
    found = ~derived.missing["user_category"]
    np.testing.assert_array_equal(
        derived[features[0]][found], latest.loc[pairs[found]].to_numpy()
    )

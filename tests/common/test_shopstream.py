"""ShopStream: determinism, schema, documented rates and signal, caching.

The signal and the clean rows are recomputed here independently of the
generator's own helpers: SQL in DuckDB for the point-in-time windows and the
validator, scikit-learn for every AUC, brute-force loops for the numpy tricks.
"""

from __future__ import annotations

import dataclasses
import functools
import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from common import shopstream
from common.shopstream import (
    DIRTY_KINDS,
    ShopStream,
    bayes_optimal_auc,
    dirty_mask,
    ensure,
    expected_bayes_auc,
    format_summary,
    generate,
    get_config,
    load,
    point_in_time_sum,
    roc_auc,
    summarize,
    write,
)

SEEDS = range(5)  # every documented margin must hold on each of them


@functools.cache
def tiny(seed: int = 0) -> ShopStream:
    """Generate each tiny dataset once per test session (tests must not mutate it)."""
    return generate(get_config("tiny", seed))


# The independent validator: the documented rules, in SQL.
CLEAN_SQL = """
    SELECT * FROM imp
    WHERE user_id IS NOT NULL AND position >= 0 AND clicked IN (0, 1)
      AND created_timestamp >= event_timestamp
    QUALIFY row_number() OVER (
        PARTITION BY impression_id ORDER BY created_timestamp) = 1
"""


def clean_sql(imp: pd.DataFrame) -> pd.DataFrame:
    with duckdb.connect() as con:
        con.register("imp", imp)
        rows = con.execute(CLEAN_SQL).df()
    # DuckDB hands back plain int64 once no null is left, and names UTC Etc/UTC.
    rows = rows.astype({"user_id": "Int64"})
    for column in ("event_timestamp", "created_timestamp"):
        rows[column] = rows[column].dt.tz_convert("UTC")
    return rows.sort_values("impression_id", ignore_index=True)


def signal_sql(imp: pd.DataFrame) -> pd.DataFrame:
    """Per clean impression: the user's clicks in the previous hour and the
    item's impressions and clicks in the previous 24 h, counting only rows
    that had arrived (created <= t); plus the item's whole-log CTR (leaky)."""
    with duckdb.connect() as con:
        con.register("imp", imp)
        con.execute(f"CREATE TABLE clean AS {CLEAN_SQL}")
        return con.execute(
            """
            WITH user_recent AS (
                SELECT a.impression_id, count(c.impression_id) AS recent_clicks
                FROM clean a LEFT JOIN clean c
                  ON c.user_id = a.user_id AND c.clicked = 1
                 AND c.created_timestamp <= a.event_timestamp
                 AND c.event_timestamp >= a.event_timestamp - INTERVAL 1 HOUR
                GROUP BY a.impression_id
            ), item_day AS (
                SELECT a.impression_id, count(b.impression_id) AS n_prior,
                       coalesce(sum(b.clicked), 0) AS clicks_prior
                FROM clean a LEFT JOIN clean b
                  ON b.item_id = a.item_id
                 AND b.created_timestamp <= a.event_timestamp
                 AND b.event_timestamp >= a.event_timestamp - INTERVAL 24 HOUR
                GROUP BY a.impression_id
            )
            SELECT c.impression_id, c.clicked, u.recent_clicks, d.n_prior,
                   d.clicks_prior,
                   avg(c.clicked) OVER (PARTITION BY c.item_id) AS item_ctr_leaky
            FROM clean c JOIN user_recent u USING (impression_id)
            JOIN item_day d USING (impression_id)
            ORDER BY c.impression_id
            """
        ).df()


# --- config -------------------------------------------------------------------


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="large, small, tiny"):
        get_config("medium")


def test_config_rejects_impossible_values_and_round_trips():
    with pytest.raises(ValueError, match="late_share"):
        dataclasses.replace(get_config("tiny"), late_share=1.5)
    with pytest.raises(ValueError, match="slate_size"):
        dataclasses.replace(get_config("tiny"), slate_size=5_000)
    config = get_config("small", seed=7)
    assert config.seed == 7
    assert shopstream.ShopStreamConfig.from_dict(config.to_dict()) == config
    assert json.loads(json.dumps(config.to_dict())) == config.to_dict()


# --- determinism --------------------------------------------------------------


def test_same_seed_gives_identical_frames():
    a, b = tiny(0), generate(get_config("tiny", 0))
    for name in ("users", "items", "impressions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.meta == b.meta


def test_different_seed_gives_different_data():
    a, b = tiny(0), tiny(1)
    assert not a.users.equals(b.users)
    assert not a.impressions.equals(b.impressions)
    assert a.meta["rates"]["ctr"] != b.meta["rates"]["ctr"]


# --- schema and invariants ----------------------------------------------------


def test_schema_and_dtypes():
    ds = tiny(0)
    utc = "datetime64[us, UTC]"
    assert ds.users.dtypes.astype(str).to_dict() == {
        "user_id": "int64",
        "country": "string",
        "signup_timestamp": utc,
        "segment": "string",
    }
    assert ds.items.dtypes.astype(str).to_dict() == {
        "item_id": "int64",
        "category_id": "int32",
        "price": "float64",
        "created_timestamp": utc,
    }
    assert ds.impressions.dtypes.astype(str).to_dict() == {
        "impression_id": "int64",
        "request_id": "int64",
        "user_id": "Int64",
        "item_id": "int64",
        "position": "int32",
        "event_timestamp": utc,
        "created_timestamp": utc,
        "clicked": "int8",
        "p_click": "float64",
    }


def test_clean_rows_obey_the_documented_invariants():
    ds = tiny(0)
    config = ds.config
    imp = ds.impressions
    assert imp["created_timestamp"].is_monotonic_increasing  # ingestion order
    clean = clean_sql(imp)
    start = pd.Timestamp(config.start, tz="UTC")
    assert clean["impression_id"].is_unique
    assert (clean["created_timestamp"] > clean["event_timestamp"]).all()
    assert clean["event_timestamp"].min() >= start
    assert clean["event_timestamp"].max() < start + pd.Timedelta(days=config.n_days)
    assert clean["position"].between(0, config.slate_size - 1).all()
    assert clean["p_click"].between(0, 1, inclusive="neither").all()
    assert clean["user_id"].isin(ds.users["user_id"]).all()
    assert clean["item_id"].isin(ds.items["item_id"]).all()
    # A request is one slate: one user, one time, distinct items in every slot.
    per_request = clean.groupby("request_id").agg(
        rows=("item_id", "size"),
        items=("item_id", "nunique"),
        users=("user_id", "nunique"),
        times=("event_timestamp", "nunique"),
        positions=("position", "nunique"),
    )
    assert (per_request["rows"] == config.slate_size).all()
    assert (per_request["items"] == config.slate_size).all()
    assert (per_request[["users", "times"]] == 1).all().all()
    assert (per_request["positions"] == config.slate_size).all()


# --- rates --------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_rates_are_as_documented(seed):
    ds = tiny(seed)
    config = ds.config
    clean = clean_sql(ds.impressions)
    assert 20_000 <= len(ds.impressions) <= 60_000
    assert 0.03 <= clean["clicked"].mean() <= 0.08
    delay = clean["created_timestamp"] - clean["event_timestamp"]
    late = (delay >= pd.Timedelta(hours=config.late_delay_hours[0])).mean()
    assert abs(late - config.late_share) < 0.01
    assert (delay <= pd.Timedelta(hours=config.late_delay_hours[1])).all()
    assert delay.median() < pd.Timedelta(seconds=30)
    counts = ds.meta["counts"]
    assert sorted(counts["dirty_by_kind"]) == sorted(DIRTY_KINDS)
    assert min(counts["dirty_by_kind"].values()) >= 3
    assert counts["dirty_impressions"] == len(ds.impressions) - len(clean)
    assert counts["dirty_impressions"] == round(config.dirty_share * len(clean))
    assert ds.meta["rates"]["ctr"] == pytest.approx(clean["clicked"].mean())


def test_dirty_rows_are_exactly_the_extra_rows():
    ds = tiny(0)
    no_dirt = generate(dataclasses.replace(ds.config, dirty_share=0.0)).impressions
    # Dirt is drawn from its own generator: the clean rows do not change.
    expected = no_dirt.sort_values("impression_id", ignore_index=True)
    pd.testing.assert_frame_equal(clean_sql(ds.impressions), expected)
    mask = dirty_mask(ds.impressions)
    assert mask.sum() == ds.meta["counts"]["dirty_impressions"]
    pd.testing.assert_frame_equal(ds.impressions[~mask].reset_index(drop=True), no_dirt)


def test_traffic_is_skewed_and_diurnal():
    ds = tiny(0)
    clean = clean_sql(ds.impressions)
    per_user = clean["user_id"].value_counts()
    per_item = clean["item_id"].value_counts()
    assert per_user.nlargest(10).sum() / len(clean) > 0.05  # top 1% of 1,000 users
    assert per_item.nlargest(10).sum() / len(clean) > 0.10  # top 1% of 1,000 items
    hour = clean["event_timestamp"].dt.hour
    assert hour.between(17, 22).mean() > 2 * hour.between(5, 10).mean()
    # Position effect: slot 0 is clicked more than slot 9, in truth.
    p_by_slot = clean.groupby("position")["p_click"].mean()
    assert p_by_slot[0] > 1.2 * p_by_slot[9]


# --- documented signal --------------------------------------------------------


@pytest.fixture(scope="module", params=SEEDS)
def signal(request) -> tuple[int, pd.DataFrame]:
    return request.param, signal_sql(tiny(request.param).impressions)


def test_a_click_in_the_last_hour_predicts_the_next(signal):
    _, rows = signal
    recent = rows["recent_clicks"] > 0
    ctr_recent = rows.loc[recent, "clicked"].mean()
    ctr_none = rows.loc[~recent, "clicked"].mean()
    assert ctr_recent >= 1.5 * ctr_none


def test_point_in_time_item_ctr_is_predictive_and_whole_log_ctr_leaks(signal):
    _, rows = signal
    rows = rows[rows["n_prior"] >= 20]
    assert len(rows) > 10_000
    pit = roc_auc_score(rows["clicked"], rows["clicks_prior"] / rows["n_prior"])
    leaky = roc_auc_score(rows["clicked"], rows["item_ctr_leaky"])
    assert pit >= 0.55
    assert leaky > pit + 0.02


def test_bayes_auc_is_in_the_documented_band(signal):
    seed, _ = signal
    ds = tiny(seed)
    clean = clean_sql(ds.impressions)
    auc = roc_auc_score(clean["clicked"], clean["p_click"])
    assert 0.70 <= auc <= 0.85
    assert ds.meta["rates"]["bayes_auc"] == pytest.approx(auc, abs=1e-12)
    assert expected_bayes_auc(clean["p_click"]) == pytest.approx(auc, abs=0.02)


def test_summary_figures_match_the_sql(signal):
    seed, rows = signal
    d = summarize(tiny(seed))
    recent = rows["recent_clicks"] > 0
    assert d["ctr_recent_click"] == pytest.approx(rows.loc[recent, "clicked"].mean())
    assert d["ctr_no_recent_click"] == pytest.approx(
        rows.loc[~recent, "clicked"].mean()
    )
    eligible = rows[rows["n_prior"] >= 20]
    assert d["item_auc_rows"] == len(eligible)
    assert d["item_ctr_24h_auc"] == pytest.approx(
        roc_auc_score(
            eligible["clicked"], eligible["clicks_prior"] / eligible["n_prior"]
        )
    )
    assert d["clean_rows"] == len(rows)
    json.dumps(d)  # the CLI may print or store it as JSON
    text = format_summary(d)
    assert "Bayes-optimal AUC" in text and f"{d['rows']:,}" in text


# --- the numpy helpers against brute force ------------------------------------


@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=60
    ).filter(lambda rows: len({y for y, _ in rows}) == 2)
)
def test_roc_auc_matches_sklearn_with_ties(rows):
    labels, scores = map(np.array, zip(*rows, strict=True))
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert bayes_optimal_auc(labels, scores / 6) == pytest.approx(
        roc_auc_score(labels, scores)
    )


@given(
    st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.5, 0.9, 1.0]), min_size=2, max_size=25)
)
def test_expected_bayes_auc_matches_the_pair_sum(ps):
    p = np.array(ps)
    num = den = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i != j:
                w = p[i] * (1 - p[j])
                den += w
                num += w * ((p[i] > p[j]) + 0.5 * (p[i] == p[j]))
    if den == 0:
        with pytest.raises(ValueError):
            expected_bayes_auc(p)
    else:
        assert expected_bayes_auc(p) == pytest.approx(num / den)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),  # key
            st.integers(0, 40),  # event time
            st.sampled_from([0, 1, 2, 5, 30]),  # delay: some longer than the window
            st.integers(0, 1),  # value
        ),
        min_size=1,
        max_size=40,
    )
)
def test_point_in_time_sum_matches_a_loop(rows):
    key, event, delay, value = (np.array(c) for c in zip(*rows, strict=True))
    created = event + delay
    window = 10
    got = point_in_time_sum(key, event, created, value, window)
    for r in range(len(rows)):
        t = event[r]
        hit = (key == key[r]) & (created <= t) & (event >= t - window)
        assert got[r] == value[hit].sum()


# --- io and caching -----------------------------------------------------------


def test_write_load_round_trip_and_cache(tmp_path, monkeypatch):
    path = ensure("tiny", seed=0, root=tmp_path)
    assert path == tmp_path / "shopstream" / "tiny-seed0"
    assert sorted(p.name for p in path.iterdir()) == [
        "impressions.parquet",
        "items.parquet",
        "meta.json",
        "users.parquet",
    ]
    assert [p.name for p in path.parent.iterdir()] == ["tiny-seed0"]  # no temp dirs
    ds = load("tiny", seed=0, root=tmp_path)
    for name in ("users", "items", "impressions"):
        pd.testing.assert_frame_equal(getattr(ds, name), getattr(tiny(0), name))
    assert ds.meta == tiny(0).meta

    # A current cache is reused: generating again would raise.
    def no_generate(config):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(shopstream.io, "generate", no_generate)
    assert ensure("tiny", seed=0, root=tmp_path) == path


def test_a_stale_or_incomplete_cache_is_regenerated(tmp_path, monkeypatch):
    path = ensure("tiny", seed=1, root=tmp_path)
    calls: list[int] = []
    real_generate = shopstream.io.generate

    def counting_generate(config):
        calls.append(config.seed)
        return real_generate(config)

    monkeypatch.setattr(shopstream.io, "generate", counting_generate)
    meta = json.loads((path / "meta.json").read_text())
    meta["config"]["n_users"] += 1  # as if the preset had changed
    (path / "meta.json").write_text(json.dumps(meta))
    ensure("tiny", seed=1, root=tmp_path)
    (path / "items.parquet").unlink()
    ensure("tiny", seed=1, root=tmp_path)
    assert calls == [1, 1]
    assert [p.name for p in path.parent.iterdir()] == ["tiny-seed1"]
    assert load("tiny", seed=1, root=tmp_path).meta == tiny(1).meta


def test_default_root_follows_labkit_data(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    assert ensure("tiny", seed=2) == tmp_path / "shopstream" / "tiny-seed2"


def test_read_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing .*meta\.json"):
        shopstream.read(tmp_path)


# --- presets: size (speed is reported by `labkit data`, not asserted here) ---


def test_tiny_is_sized_for_tests():
    ds = generate(get_config("tiny", seed=9))
    assert 20_000 <= len(ds.impressions) <= 60_000


@pytest.mark.slow
def test_small_has_a_million_rows(tmp_path):
    ds = generate(get_config("small"))
    write(ds, tmp_path / "small")
    assert len(ds.impressions) >= 1_000_000
    assert shopstream.read(tmp_path / "small").impressions.shape == ds.impressions.shape

"""Lab 1 — feature store: offline store, feature views, point-in-time joins,
materialisation and online reads over SQLite, Redis or memory.

    from labs.feature_store import build_store
    store = build_store("tiny")                      # cached under data/feature_store/
    train = store.get_historical_features(entity_df, ["user_activity:clicks_1h"])
    online = store.get_online_features({"user_id": [1, 2]}, ["user_activity:clicks_1h"])

The brief is ``README.md`` next to this file. Timestamps must be
timezone-aware everywhere; naive ones raise ``ValueError`` (see ``schema.py``).

The names below are imported on first use, not here: a process that reads
one online backend, or only the view definitions, should not import the
Redis client, DuckDB and every other backend at start-up.
"""

from __future__ import annotations

from common.lazy import lazy_exports

_EXPORTS = {
    "build": (
        "build_store",
        "store_dir",
    ),
    "keys": (
        "USER_CATEGORY",
        "ItemCategories",
        "with_keys",
    ),
    "materialize": (
        "MaterializeReport",
        "latest_per_entity",
    ),
    "offline": (
        "QUARANTINE_REASONS",
        "IngestReport",
        "OfflineStore",
        "quarantine_reasons",
    ),
    "online_memory": ("MemoryOnlineStore",),
    "online_redis": ("RedisOnlineStore",),
    "online_request": ("OnlineFeatures",),
    "online_sqlite": ("SqliteOnlineStore",),
    "online_store": (
        "OnlineBatch",
        "OnlineRead",
        "OnlineStore",
        "OnlineStoreUnavailable",
        "open_online_store",
    ),
    "pit_join": (
        "JoinSpec",
        "point_in_time_join",
    ),
    "schema": ("IMPRESSION_SCHEMA",),
    "store": ("FeatureStore",),
    "views": (
        "Aggregation",
        "FeatureView",
        "default_views",
    ),
    "windows": (
        "compute_view",
        "windowed_sum",
    ),
}
__getattr__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)

"""Lab 1 — feature store: offline store, feature views, point-in-time joins,
materialisation and online reads over SQLite, Redis or memory.

    from labs.feature_store import build_store
    store = build_store("tiny")                      # cached under data/feature_store/
    train = store.get_historical_features(entity_df, ["user_activity:clicks_1h"])
    online = store.get_online_features({"user_id": [1, 2]}, ["user_activity:clicks_1h"])

The brief is ``README.md`` next to this file. Timestamps must be
timezone-aware everywhere; naive ones raise ``ValueError`` (see ``schema.py``).
"""

from labs.feature_store.build import build_store, store_dir
from labs.feature_store.keys import USER_CATEGORY, ItemCategories, with_keys
from labs.feature_store.materialize import latest_per_entity
from labs.feature_store.offline import (
    QUARANTINE_REASONS,
    IngestReport,
    OfflineStore,
    quarantine_reasons,
)
from labs.feature_store.online_memory import MemoryOnlineStore
from labs.feature_store.online_redis import RedisOnlineStore
from labs.feature_store.online_request import OnlineFeatures
from labs.feature_store.online_sqlite import SqliteOnlineStore
from labs.feature_store.online_store import (
    OnlineBatch,
    OnlineRead,
    OnlineStore,
    OnlineStoreUnavailable,
    open_online_store,
)
from labs.feature_store.pit_join import JoinSpec, point_in_time_join
from labs.feature_store.schema import IMPRESSION_SCHEMA
from labs.feature_store.store import FeatureStore, MaterializeReport
from labs.feature_store.views import Aggregation, FeatureView, default_views
from labs.feature_store.windows import compute_view, windowed_sum

__all__ = [
    "IMPRESSION_SCHEMA",
    "QUARANTINE_REASONS",
    "USER_CATEGORY",
    "Aggregation",
    "FeatureStore",
    "FeatureView",
    "IngestReport",
    "ItemCategories",
    "JoinSpec",
    "MaterializeReport",
    "MemoryOnlineStore",
    "OfflineStore",
    "OnlineBatch",
    "OnlineFeatures",
    "OnlineRead",
    "OnlineStore",
    "OnlineStoreUnavailable",
    "RedisOnlineStore",
    "SqliteOnlineStore",
    "build_store",
    "compute_view",
    "default_views",
    "latest_per_entity",
    "open_online_store",
    "point_in_time_join",
    "quarantine_reasons",
    "store_dir",
    "windowed_sum",
    "with_keys",
]

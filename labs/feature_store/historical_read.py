"""Training reads: what ``get_historical_features`` does around the point-in-time join.

    derived = check_request(entity_df, {"user_activity": "user_id"}, items)
    specs = [JoinSpec("user_activity", "user_id", ["clicks_1h"], ttl_us, index)]
    frame = join_features(entity_df, specs, derived, features, defaults)

``FeatureStore.get_historical_features`` calls these in that order:
:func:`check_request` rejects a bad ``entity_df`` before any view is
computed and derives the keys it lacks (``keys.py``); the store then brings
its views up to date and builds one :class:`JoinSpec` per view over the
cached as-of index; :func:`join_features` runs the join (``pit_join.py``,
m3), puts the columns in the requested order and fills the defaults.
``online_read.py`` is the same path for online reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from labs.feature_store.keys import DERIVED_KEYS, ItemsFile
from labs.feature_store.pit_join import JoinSpec, check_entity_df, point_in_time_join
from labs.feature_store.views import check_defaults


def check_request(
    entity_df: pd.DataFrame, keys: Mapping[str, str], items: ItemsFile
) -> dict[str, Any]:
    """Check ``entity_df`` for the views ``keys`` (view → key); the derived keys it lacks.

    Raises:
        ValueError: no usable ``event_timestamp``, a missing key column, or a
            derived key that cannot be built (the message names its sources).
    """
    # Derived keys are checked by derive(), which names the columns they come from.
    check_entity_df(
        entity_df,
        {v: e for v, e in keys.items() if e not in DERIVED_KEYS or e in entity_df},
    )
    return items.derive(entity_df, set(keys.values()))


def join_features(
    entity_df: pd.DataFrame,
    specs: Sequence[JoinSpec],
    derived: Mapping[str, Any],
    features: Sequence[str],
    defaults: Mapping[str, float] | None,
) -> pd.DataFrame:
    """``entity_df`` joined to ``specs``, features in requested order, nulls filled.

    Raises:
        ValueError: ``defaults`` names a feature that was not requested.
    """
    if defaults:
        check_defaults(defaults, features)
    joined = point_in_time_join(entity_df, specs, keys=derived)
    order = [*entity_df.columns, *features]
    if list(joined.columns) != order:  # a million-row copy: only when needed
        joined = joined[order]
    if not defaults:
        return joined
    return joined.fillna({k: float(v) for k, v in defaults.items()})

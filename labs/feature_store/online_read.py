"""m5 — online reads: one ``read_batch`` per view, the TTL applied, the answer assembled.

    columns = key_columns(entity_rows, request_keys(entity_rows, entities))
    result = OnlineFeatures()
    result.update(columns)
    values = read_view(online, view, ["clicks_1h"], columns["user_id"], at_us, result)
    assemble(result, values, features, defaults)

``FeatureStore.get_online_features`` calls these in that order: the request's
key columns, one :func:`read_view` per view (one round trip each), then
:func:`assemble` puts the features in the requested order and fills the
defaults. A row older than ``at_us − ttl`` is served as null, like a missing
one, and flagged ``expired``; the caller picks ``at_us`` (the view's
watermark unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from labs.feature_store.keys import DERIVED_KEYS
from labs.feature_store.online_request import OnlineFeatures, entity_keys
from labs.feature_store.online_store import OnlineStore
from labs.feature_store.views import FeatureView, check_defaults


def request_keys(entity_rows: Any, entities: set[str]) -> set[str]:
    """The key columns a request must carry: a derived key's sources unless it has the key."""
    if not isinstance(entity_rows, (pd.DataFrame, Mapping)):
        return entities  # a plain list of ids is the only view's key itself
    out: set[str] = set()
    for entity in entities:
        given = entity in entity_rows or entity not in DERIVED_KEYS
        out.update((entity,) if given else DERIVED_KEYS[entity])
    return out


def read_view(
    online: OnlineStore,
    view: FeatureView,
    names: Sequence[str],
    entity_ids: Any,
    at_us: int,
    result: OnlineFeatures,
) -> dict[str, np.ndarray]:
    """Read ``names`` of ``view`` for ``entity_ids`` in one round trip, TTL judged at ``at_us``.

    Records ``missing``, ``expired`` and ``event_us`` of the view in ``result``.

    Returns:
        Each feature's column by ``"view:feature"``, in request order; NaN
        where the key is null, has no stored row, or its row is older than
        ``at_us − view.ttl_us``.
    """
    keys, valid = entity_keys(entity_ids)
    # BEGIN SOLUTION m5: one read_batch per view; expired (older than now - ttl) and missing rows read as null
    read = online.read_batch(view.name, keys, names)
    found = read.found if valid is None else read.found & valid
    fresh = found & (read.event_us >= at_us - view.ttl_us)
    values = (
        read.values  # the common case: every key fresh, nothing to blank
        if fresh.all()
        else np.where(fresh[:, None], read.values, np.nan)
    )
    result.missing[view.name] = ~found
    result.expired[view.name] = found ^ fresh  # found, but older than now - ttl
    result.event_us[view.name] = read.event_us  # 0 where not found
    return {view.ref(feature): values[:, j] for j, feature in enumerate(names)}
    # END SOLUTION


def assemble(
    result: OnlineFeatures,
    values: Mapping[str, np.ndarray],
    features: Sequence[str],
    defaults: Mapping[str, float] | None,
) -> OnlineFeatures:
    """Add each of ``features`` to ``result`` in order, nulls replaced by ``defaults``.

    Raises:
        ValueError: ``defaults`` names a feature that was not requested.
    """
    if defaults:
        check_defaults(defaults, features)
    for ref in features:
        column = values[ref]
        if defaults and ref in defaults:
            column = np.where(np.isnan(column), float(defaults[ref]), column)
        result[ref] = column
    return result

"""What an online request looks like: its entity rows in, ``OnlineFeatures`` out.

    got = store.get_online_features({"user_id": [3, 7]}, ["user_activity:clicks_1h"])
    got["user_activity:clicks_1h"]    # float64 array, request order
    got.missing["user_activity"]      # no stored row for the key
    got.to_frame()                    # a DataFrame, if you want one

Entity rows may come as a DataFrame, a mapping of key columns, or a plain list
of ids when every requested view has the same key. Ids become the online
store's string keys: ``7``, ``7.0`` and ``np.int64(7)`` are all ``"7"``; nulls
match nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


class OnlineFeatures(dict):
    """``get_online_features``' result: column name → array, in request order.

    The keys are the entity columns given, then each requested feature as
    ``"view:feature"`` (float64; NaN = null). Per view, ``missing[view]``
    flags keys with no stored row, ``expired[view]`` rows older than the TTL
    (both served as null, then defaults), ``event_us[view]`` the stored
    row's event time (0 when missing).
    """

    def __init__(self) -> None:
        super().__init__()
        self.missing: dict[str, np.ndarray] = {}
        self.expired: dict[str, np.ndarray] = {}
        self.event_us: dict[str, np.ndarray] = {}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(dict(self))

    def to_numpy(self, features: Sequence[str]) -> np.ndarray:
        """The given feature columns as one float64 matrix ``(n, len(features))``."""
        return np.column_stack([self[f] for f in features])


def entity_keys(values: Any) -> tuple[list[str], np.ndarray | None]:
    """Entity ids as the online store's string keys, and which ones are not null.

    Integers and integral floats map to the same key (``7`` and ``7.0`` → ``"7"``).
    The mask is ``None`` when no id is null (the common case, kept cheap).
    """
    array = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if array.dtype.kind in "iu":
        return list(map(str, array.tolist())), None
    keys, valid = [], np.ones(len(array), dtype=bool)
    for i, value in enumerate(array.tolist()):
        if (
            value is None
            or value is pd.NA
            or (isinstance(value, float) and value != value)
        ):
            keys.append("")
            valid[i] = False
        elif isinstance(value, float) and value.is_integer():
            keys.append(str(int(value)))
        else:
            keys.append(str(value))
    return keys, None if valid.all() else valid


def key_columns(entity_rows: Any, keys: set[str]) -> dict[str, np.ndarray]:
    """The entity key columns of a request, as arrays of equal length."""
    if len(keys) == 1 and isinstance(entity_rows, (list, np.ndarray)):
        return {next(iter(keys)): np.asarray(entity_rows)}  # the serving fast path
    source: Any
    if isinstance(entity_rows, (pd.DataFrame, Mapping)):
        source = entity_rows
    else:
        if len(keys) != 1:
            raise ValueError(
                f"a plain list of ids is ambiguous for views keyed by {sorted(keys)}; "
                f"pass a mapping such as {{{', '.join(repr(k) + ': [...]' for k in sorted(keys))}}}."
            )
        source = {next(iter(keys)): entity_rows}
    missing = sorted(k for k in keys if k not in source)
    if missing:
        raise ValueError(
            f"entity rows lack key columns {missing} (given: {sorted(map(str, source))}); the "
            "requested views are keyed by them."
        )
    out = {k: np.asarray(source[k]) for k in sorted(keys)}
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise ValueError(
            f"entity key columns differ in length: { {k: len(v) for k, v in out.items()} }."
        )
    return out

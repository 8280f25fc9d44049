"""Entity keys as dense integer codes, for the as-of index's int64 probes.

    codec = KeyCodes.fit(rows.key)        # fixed by the feature rows' keys
    codec.codes(query_keys)               # int64, -1 for a null or unknown key

The point-in-time join (``pit_join.py``) sorts and searches one int64 per
row, ``code * span + time offset``, so a codec's ``n`` (codes lie in
``[0, n)``) times the rows' time span must stay below 2**62. Three ways to
number keys, cheapest first:

- integer keys are their own codes, shifted to start at 0 (``low``): free,
  but ``n`` is the keys' *range*. ShopStream's pair keys
  (``user_id · 100 + category``) range over 6M values on ``large`` while
  fewer than half of them occur.
- integer keys as their rank among the distinct keys (``ids``, sorted): a
  binary search per key, and ``n`` is the number of distinct keys.
- any other keys (strings...) by their position among the distinct keys
  (``index``, a hash lookup).

:meth:`KeyCodes.dense` and :meth:`KeyCodes.part` let the join fall back to
distinct-key codes, and split those into ranges, when the range is too wide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def _whole_keys(keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Keys as int64 and a mask of those that are whole numbers (7.0 -> 7; "x", null: no)."""
    if not (pd.api.types.is_integer_dtype(keys.dtype) or keys.isna().all()):
        numeric = pd.to_numeric(keys, errors="coerce")
        whole = numeric.notna() & (numeric == numeric.round())
        keys = numeric.where(whole).astype("Int64")
    valid = keys.notna().to_numpy(dtype=bool)
    return keys.to_numpy(dtype=np.int64, na_value=0), valid


@dataclass
class KeyCodes:
    """Entity keys as dense integer codes, fixed by the feature rows' keys.

    Exactly one of ``low``, ``ids`` and ``index`` is set (see the module
    docstring). A null or unknown key gets -1.
    """

    n: int  # codes lie in [0, n)
    low: int | None = None  # integer keys: code = key - low
    ids: np.ndarray | None = None  # integer keys: code = rank in these sorted ids
    index: pd.Index | None = None  # other keys: code = position in index

    @classmethod
    def fit(cls, keys: pd.Series) -> KeyCodes:
        """The cheapest codec for ``keys``: the integer range, or the distinct keys."""
        if pd.api.types.is_integer_dtype(keys.dtype) and len(keys):
            low, high = int(keys.min()), int(keys.max())
            return cls(n=high - low + 1, low=low)
        index = pd.Index(pd.unique(keys.dropna()))
        return cls(n=max(len(index), 1), index=index)

    def dense(self, keys: pd.Series) -> KeyCodes:
        """A codec over the distinct ``keys`` only: ``n`` = how many there are."""
        if self.low is None:
            return self  # already one code per distinct key
        ids = np.unique(keys.dropna().to_numpy(dtype=np.int64))
        return KeyCodes(n=len(ids), ids=ids)

    def part(self, start: int, stop: int) -> KeyCodes:
        """The codec of the keys whose codes lie in ``[start, stop)``, renumbered from 0."""
        stop = min(stop, self.n)
        if self.ids is not None:
            return KeyCodes(n=stop - start, ids=self.ids[start:stop])
        if self.index is not None:
            return KeyCodes(n=stop - start, index=self.index[start:stop])
        assert self.low is not None
        return KeyCodes(n=stop - start, low=self.low + start)

    def codes(self, keys: pd.Series) -> np.ndarray:
        """The code of each key, int64; -1 for a null or unknown key."""
        keys = pd.Series(keys).reset_index(drop=True)
        if self.index is not None:
            return np.asarray(self.index.get_indexer(keys), dtype=np.int64)
        whole, valid = _whole_keys(keys)
        if self.ids is not None:
            at = np.searchsorted(self.ids, whole)
            found = valid & (at < len(self.ids))
            found[found] = self.ids[at[found]] == whole[found]
            return np.where(found, at, -1).astype(np.int64)
        assert self.low is not None
        code = whole - self.low
        code[~valid | (code < 0) | (code >= self.n)] = -1
        return code

"""Derived entity keys: features of a (user, item category) pair.

ShopStream users prefer a few item categories (the generator's ``affinity``),
and 30% of every slate is drawn from them. So how often a user has seen and
clicked items of *this item's category* predicts the click, and no feature of
the user alone or of the item alone can say it. A view keyed by the pair can::

    FeatureView(name="user_category", entity="user_category", ...)

Callers never build the pair. They pass ``user_id`` and ``item_id``, as for
every other view, and the store derives

    user_category = user_id · W + category_id(item_id)

from the items table it was given (:meth:`FeatureStore.ingest_items`), where
``W`` is the smallest power of ten above every category id: the key reads as
the user id followed by the category's digits (user 7229, category 14, W =
100: 722914). An integer, not a string such as ``"7229:14"``, because the
point-in-time join and the online stores handle integer keys several times
faster. A caller that already has the pair key may pass the
``user_category`` column itself. A row whose user is null or whose item the
store does not know gets a null key, so its pair features read as missing,
never as another pair's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labs.feature_store.atomic_write import StagedFiles

USER_CATEGORY = "user_category"
# A derived key and the caller's columns it is built from.
DERIVED_KEYS: Mapping[str, tuple[str, str]] = {USER_CATEGORY: ("user_id", "item_id")}


@dataclass(frozen=True)
class ItemCategories:
    """The category of every known item: a sorted id column and its categories."""

    item_id: npt.NDArray[np.int64]  # sorted, unique
    category_id: npt.NDArray[np.int64]  # >= 0

    @cached_property  # read on every online request: computed once
    def width(self) -> int:
        """``W``: the smallest power of ten above every category id."""
        return int(10 ** len(str(int(self.category_id.max(initial=0)))))

    @classmethod
    def from_items(cls, items: pd.DataFrame) -> ItemCategories:
        """Read ``item_id`` and ``category_id`` from an items table.

        Raises:
            ValueError: a column is missing, holds nulls, or an item id repeats
                (an item with two categories has no single pair key).
        """
        if not isinstance(items, pd.DataFrame):
            raise ValueError(
                f"items must be a DataFrame with item_id and category_id, got "
                f"{type(items).__name__}."
            )
        missing = [c for c in ("item_id", "category_id") if c not in items.columns]
        if missing:
            raise ValueError(
                f"the items table lacks {missing} (columns: {list(items.columns)}); "
                "pass ShopStream's items, e.g. load('tiny').items."
            )
        table = items[["item_id", "category_id"]]
        nulls = table.isna().sum()
        if nulls.any():
            raise ValueError(
                f"the items table has nulls: {nulls[nulls > 0].to_dict()}; every "
                "item needs an id and a category."
            )
        if (table["category_id"] < 0).any():
            raise ValueError(
                "the items table has negative category ids; categories are "
                "numbered from 0."
            )
        ids = table["item_id"].to_numpy(dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        repeated = np.unique(ids[1:][ids[1:] == ids[:-1]])
        if len(repeated):
            raise ValueError(
                f"{len(repeated)} item ids repeat in the items table (e.g. "
                f"{repeated[:5].tolist()}); each item needs exactly one category."
            )
        categories = table["category_id"].to_numpy(dtype=np.int64)[order]
        return cls(ids, categories)

    def lookup(self, item_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The category of each item id; -1 for an id not in the table."""
        query = np.asarray(item_ids, dtype=np.int64)
        if len(self.item_id) == 0:
            return np.full(query.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.item_id, query), len(self.item_id) - 1)
        return np.where(self.item_id[at] == query, self.category_id[at], -1)

    def to_arrow(self) -> pa.Table:
        return pa.table({"item_id": self.item_id, "category_id": self.category_id})

    @classmethod
    def load(cls, path: Path) -> ItemCategories:
        table = pq.read_table(path)
        return cls(
            table["item_id"].to_numpy().astype(np.int64),
            table["category_id"].to_numpy().astype(np.int64),
        )


class ItemsFile:
    """A store's items table on disk, read on first use and kept in memory.

    Args:
        path: the Parquet file (``<root>/offline/items.parquet``).
    """

    def __init__(self, path: Path):
        self.path = path
        self._table: ItemCategories | None = None

    @property
    def table(self) -> ItemCategories | None:
        """The stored table, or ``None`` if none was ingested."""
        if self._table is None and self.path.exists():
            self._table = ItemCategories.load(self.path)
        return self._table

    def replace(self, items: pd.DataFrame, stage: StagedFiles) -> int:
        """Stage ``items``' categories in place of any earlier table; the items staged.

        The table is read again from disk next time, so a stage that is
        undone leaves no new table in memory either.
        """
        table = ItemCategories.from_items(items)
        stage.parquet(table.to_arrow(), self.path, "the items table")
        self._table = None
        return len(table.item_id)

    def derive(self, columns: Mapping[str, Any], keys: set[str]) -> dict[str, Any]:
        """:func:`derive` for requests: skips the file when no key is derived."""
        if not keys & DERIVED_KEYS.keys():
            return {}  # the common request: no file check, no lookups
        return derive(columns, keys, self.table)


def _whole_numbers(values: Any) -> npt.NDArray[np.float64]:
    """Ids as float64 (exact below 2**53); NaN for nulls and non-integers."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    out = pd.to_numeric(series, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan, copy=True
    )
    out[out != np.round(out)] = np.nan
    return out


def _int_array(values: Any) -> bool:
    return isinstance(values, np.ndarray) and values.dtype.kind in "iu"


def user_category_keys(user_ids: Any, item_ids: Any, items: ItemCategories) -> Any:
    """``user_id · W + category_id`` per row (see the module doc).

    Returns:
        An int64 numpy array when every row has a key; otherwise a pandas
        ``Int64`` array, null where the user is null or the item unknown.
    """
    width = items.width
    if _int_array(user_ids) and _int_array(item_ids):
        # The serving path: integer arrays, every item known.
        category = items.lookup(item_ids)
        if len(category) == len(user_ids) and (category >= 0).all():
            return user_ids.astype(np.int64) * width + category
    users, item = _whole_numbers(user_ids), _whole_numbers(item_ids)
    if len(users) != len(item):
        raise ValueError(
            f"user and item columns differ in length: {len(users)} and {len(item)}."
        )
    valid = ~(np.isnan(users) | np.isnan(item))
    category = np.full(len(users), -1, dtype=np.int64)
    category[valid] = items.lookup(item[valid].astype(np.int64))
    valid &= category >= 0
    keys = np.where(valid, np.nan_to_num(users).astype(np.int64) * width + category, 0)
    if valid.all():
        return keys
    return pd.arrays.IntegerArray(keys, ~valid)


def source_columns(keys: Iterable[str]) -> set[str]:
    """The columns ``keys`` are read from: a derived key's sources, any other key itself."""
    return {column for key in keys for column in DERIVED_KEYS.get(key, (key,))}


def derive(
    columns: Mapping[str, Any], keys: Iterable[str], items: ItemCategories | None
) -> dict[str, npt.NDArray[Any]]:
    """The derived key columns among ``keys`` that ``columns`` does not already hold.

    Args:
        columns: the caller's columns (a DataFrame or a mapping of arrays).
        keys: the entity keys of the views being read.
        items: the store's item categories (``None`` if none were ingested).

    Raises:
        ValueError: a derived key is needed but the store has no items table,
            or the caller lacks a column it is built from.
    """
    out: dict[str, npt.NDArray[Any]] = {}
    for key in keys:
        if key not in DERIVED_KEYS or key in columns:
            continue
        user, item = DERIVED_KEYS[key]
        missing = [c for c in (user, item) if c not in columns]
        if missing:
            raise ValueError(
                f"the {key!r} key is built from {user!r} and {item!r}; the rows lack "
                f"{missing} (given: {sorted(map(str, columns))})."
            )
        if items is None:
            raise ValueError(
                f"views keyed by {key!r} need each item's category: call "
                "store.ingest_items(items) (e.g. load('tiny').items) first."
            )
        out[key] = user_category_keys(columns[user], columns[item], items)
    return out


def with_keys(
    frame: pd.DataFrame, keys: Iterable[str], items: ItemCategories | None
) -> pd.DataFrame:
    """``frame`` with the derived key columns it lacks (a copy if any is added)."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(
            f"entity_df must be a pandas DataFrame, got {type(frame).__name__}."
        )
    added = derive(frame, keys, items)
    return frame.assign(**added) if added else frame

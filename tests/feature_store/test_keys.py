"""The derived user_category key: built from user_id and item_id, never by the caller."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.feature_store import FeatureStore, ItemCategories
from labs.feature_store.keys import user_category_keys

ITEMS = ItemCategories.from_items(
    pd.DataFrame({"item_id": [30, 10, 20], "category_id": [3, 1, 2]})
)


@pytest.mark.given
def test_a_pair_key_is_the_user_and_the_items_category():
    keys = user_category_keys(
        pd.array([7, None, 7, 8], dtype="Int64"), [10, 10, 99, 30], ITEMS
    )
    # W = 10 (categories 1-3): the user's digits, then the category's.
    assert keys.tolist() == [71, pd.NA, pd.NA, 83]  # null user, unknown item


@pytest.mark.given
@settings(max_examples=50, deadline=None)
@given(
    users=st.lists(st.integers(0, 10**9), min_size=1, max_size=40),
    data=st.data(),
)
def test_the_serving_fast_path_builds_the_same_keys(users, data):
    items = data.draw(
        st.lists(
            st.sampled_from([10, 20, 30, 99]), min_size=len(users), max_size=len(users)
        )
    )
    fast = user_category_keys(np.array(users), np.array(items), ITEMS)
    general = user_category_keys(pd.Series(users), pd.Series(items), ITEMS)
    assert pd.Series(fast).tolist() == pd.Series(general).tolist()


@pytest.mark.given
@pytest.mark.parametrize(
    "items, message",
    [
        (pd.DataFrame({"item_id": [1]}), "lacks ['category_id']"),
        (pd.DataFrame({"item_id": [1, 2], "category_id": [1, None]}), "nulls"),
        (pd.DataFrame({"item_id": [1, 1], "category_id": [1, 2]}), "repeat"),
    ],
)
def test_a_bad_items_table_is_refused_with_the_reason(items, message):
    with pytest.raises(
        ValueError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        ItemCategories.from_items(items)


@pytest.mark.given
def test_a_store_without_items_says_to_ingest_them(tiny, tmp_path):
    store = FeatureStore(tmp_path, online="memory")
    store.ingest(tiny.impressions.iloc[:2_000])
    with pytest.raises(ValueError, match="ingest_items"):
        store.compute_views()


@pytest.mark.given
@settings(max_examples=50, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 120)), min_size=2, max_size=30
    )
)
def test_distinct_pairs_get_distinct_keys(pairs):
    categories = sorted({c for _, c in pairs})
    items = ItemCategories.from_items(
        pd.DataFrame({"item_id": categories, "category_id": categories})
    )  # item i is in category i
    users = np.array([u for u, _ in pairs])
    keys = user_category_keys(users, np.array([c for _, c in pairs]), items)
    assert len(set(keys.tolist())) == len(set(pairs))


@pytest.mark.given
def test_an_impression_of_an_unknown_item_stops_the_pair_view(tiny, tmp_path):
    store = FeatureStore(tmp_path, online="memory")
    store.ingest(tiny.impressions.iloc[:2_000])
    shown = tiny.impressions["item_id"].iloc[:2_000].unique()
    store.ingest_items(tiny.items[tiny.items["item_id"] != shown[0]])
    with pytest.raises(ValueError, match=f"item ids \\[{shown[0]}\\]"):
        store.compute_views()

"""Fixtures of the algorithms lab: the tiny ShopStream as each problem's input.

``load_shop`` and ``load_catalogue`` are cached per process; tests only read
them.
"""

from __future__ import annotations

import pytest

from labs.algorithms.catalogue import Catalogue, load_catalogue
from labs.algorithms.shop import Shop, load_shop


@pytest.fixture(scope="session")
def shop() -> Shop:
    """The tiny preset's clean impressions and the inputs built from them."""
    return load_shop("tiny")


@pytest.fixture(scope="session")
def cat() -> Catalogue:
    """The tiny preset's item titles, descriptions and search log."""
    return load_catalogue("tiny")

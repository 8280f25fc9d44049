"""Fixtures of the experiments lab: the tiny ShopStream and A/B logs built from it.

Every simulation in these tests is seeded, so a run reproduces exactly; the
Monte-Carlo tolerances are stated in standard errors next to each assertion.
"""

from __future__ import annotations

import pytest

from common.shopstream import ShopStream, load
from labs.experiments import ABDesign, ABLog, build_ab_log


@pytest.fixture(scope="session")
def tiny() -> ShopStream:
    """The tiny preset: ~500 active users, ~51k impressions over 3 days."""
    return load("tiny", seed=0)


@pytest.fixture(scope="session")
def aa_log(tiny: ShopStream) -> ABLog:
    """An A/A test: the treatment arm's clicks are drawn from the same p_click."""
    return build_ab_log(tiny, ABDesign(lift=0.0))


@pytest.fixture(scope="session")
def big_lift_log(tiny: ShopStream) -> ABLog:
    """+60% long-run lift plus a strong novelty bonus: detectable on ~500 users."""
    return build_ab_log(
        tiny, ABDesign(lift=0.6, novelty=3.0, novelty_half_life_days=0.5)
    )

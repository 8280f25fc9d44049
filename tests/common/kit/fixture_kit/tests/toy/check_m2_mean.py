import pytest
from fixturelabs.toy.arith import mean, total
from hypothesis import given, settings
from hypothesis import strategies as st


def test_mean():
    assert mean([1, 2, 3]) == 2


@settings(deadline=None, max_examples=50, derandomize=True)
@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=20))
def test_mean_matches_the_definition(values):
    assert mean(values) == pytest.approx(sum(values) / len(values))


@pytest.mark.given
def test_total_is_given():
    assert total([1, 2]) == 3

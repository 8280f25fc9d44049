import numpy as np
from fixturelabs.toy.arith import countdown


def test_countdown():
    assert countdown(3) == [3, 2, 1]


def test_countdown_of_ten_as_an_array():
    np.testing.assert_array_equal(countdown(10), np.arange(10, 0, -1))

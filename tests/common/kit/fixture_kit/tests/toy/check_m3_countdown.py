from fixturelabs.toy.arith import countdown


def test_countdown():
    assert countdown(3) == [3, 2, 1]

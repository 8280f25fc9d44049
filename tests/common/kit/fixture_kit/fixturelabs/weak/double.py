"""Doubling."""


def double(x):
    """Return 2 * x."""
    # BEGIN SOLUTION m1
    return 2 * x
    # END SOLUTION

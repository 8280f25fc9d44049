"""Toy arithmetic."""


def add(a, b):
    """Return a + b."""
    # BEGIN SOLUTION m1
    return a + b
    # END SOLUTION


def total(values):
    """Given to the candidate: the sum of values."""
    return sum(values)


def mean(values):
    """Return the arithmetic mean of a non-empty list."""
    if not values:
        raise ValueError("mean of an empty list")
    # BEGIN SOLUTION m2: divide the total by the count
    return total(values) / len(values)
    # END SOLUTION m2


def countdown(n):
    """Return [n, n-1, ..., 1]."""
    out = []
    # BEGIN SOLUTION m3
    while n > 0:
        out.append(n)
        n -= 1
    # END SOLUTION
    return out

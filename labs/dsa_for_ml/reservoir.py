"""m2 — a uniform sample of k items from a stream of unknown length (Algorithm R).

    import random
    from labs.dsa_for_ml.reservoir import Reservoir, reservoir_sample
    reservoir_sample(requests, 1_000, random.Random(0))    # a list of 1,000
    sampler = Reservoir(1_000, random.Random(0))           # or item by item
    for request in stream: sampler.add(request)
    sampler.sample

The first ``k`` items fill the reservoir. Item ``i`` (1-based, ``i > k``)
replaces a uniformly chosen slot with probability ``k / i``. By induction,
after ``n`` items every item is in the reservoir with probability ``k / n``:
it entered with ``k / i`` and survived each later step ``j`` with
``1 − (k / j)(1 / k) = (j − 1) / j``, a product that telescopes to ``i / n``.
More than that, every ``k``-subset is equally likely, which the tests check
with a chi-square test over all subsets of a small stream.

At ShopStream this is how a serving replica logs a fixed-size, uniform
sample of the requests it served (to diff served features against an
offline recompute) without knowing in advance how many requests the day
will bring.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Reservoir(Generic[T]):
    """A uniform random sample of at most ``k`` of the items added so far.

    Args:
        k: the sample size (at least 1).
        rng: the random source (seed it: ``random.Random(seed)``).
    """

    def __init__(self, k: int, rng: random.Random):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"a reservoir needs an integer size k >= 1, got {k!r}.")
        if not isinstance(rng, random.Random):
            raise TypeError(
                f"rng must be a random.Random (seeded, e.g. random.Random(0)), "
                f"got {type(rng).__name__}."
            )
        self.k = k
        self.rng = rng
        self.seen = 0  # items added so far (n)
        self.sample: list[T] = []  # the reservoir; order carries no meaning

    def add(self, item: T) -> None:
        """Offer one item of the stream."""
        self.seen += 1
        # BEGIN SOLUTION m2: fill the first k slots; then item i replaces a random slot with probability k/i
        if len(self.sample) < self.k:
            self.sample.append(item)
            return
        slot = self.rng.randrange(self.seen)  # uniform in [0, i)
        if slot < self.k:  # probability k / i; the slot is then uniform in [0, k)
            self.sample[slot] = item
        # END SOLUTION

    def __len__(self) -> int:
        return len(self.sample)


def reservoir_sample(stream: Iterable[T], k: int, rng: random.Random) -> list[T]:
    """``k`` items drawn uniformly without replacement from ``stream`` (all if fewer).

    One pass, O(k) memory, one random draw per item after the first ``k``.
    """
    sampler: Reservoir[T] = Reservoir(k, rng)
    for item in stream:
        sampler.add(item)
    return sampler.sample

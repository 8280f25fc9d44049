"""The toy lab's `labkit run`: records its keywords, and what the lab computes."""


def run(results, *, preset: str = "small", rounds: int = 1) -> None:
    from fixturelabs.toy.arith import add, countdown

    results.add("preset", preset)
    results.add("rounds", rounds)
    if results.needs("m3", what="the countdown"):
        results.add("countdown", countdown(3))
    results.add("sum", add(1, 2))

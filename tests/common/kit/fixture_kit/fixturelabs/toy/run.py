"""The toy lab's `labkit run`: records the keywords it was called with."""


def run(results, *, preset: str = "small", rounds: int = 1) -> None:
    results.add("preset", preset)
    results.add("rounds", rounds)

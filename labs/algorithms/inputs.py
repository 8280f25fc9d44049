"""Random inputs of size n for the timed cases, one function each (given).

Each takes ``n`` and a seeded ``numpy`` generator and returns what the case
passes to the function it times; ``cases.py`` pairs them with the functions.
Values repeat on purpose where repeats are the hard part (latencies in whole
milliseconds, sorted lists with runs of equal values).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from labs.algorithms import minhash

QUERIES = 1_000  # searches per timed call of the O(log n) functions


def sorted_list(n: int, rng: np.random.Generator) -> Any:
    values = np.sort(rng.integers(0, n, n)).tolist()  # duplicates on purpose
    return SimpleNamespace(values=values, targets=rng.integers(0, n, QUERIES).tolist())


def answer_range(n: int, rng: np.random.Generator) -> Any:
    return SimpleNamespace(
        n=n, thresholds=rng.integers(1, n + 1, QUERIES // 10).tolist()
    )


def latencies(n: int, rng: np.random.Generator) -> Any:
    values = rng.lognormal(3.0, 1.0, n).round().tolist()  # whole ms: many repeats
    return SimpleNamespace(values=values, array=np.array(values), k=max(1, n // 100))


def dag(n: int, rng: np.random.Generator) -> dict[int, list[int]]:
    steps: dict[int, list[int]] = {0: []}
    for i in range(1, n):
        steps[i] = rng.integers(0, i, min(i, 3)).tolist()
    return steps


def ring(n: int, rng: np.random.Generator) -> Any:
    graph = {i: [(i + 1) % n] for i in range(n)}
    return SimpleNamespace(graph=graph, stuck=set(graph))


def undirected(n: int, rng: np.random.Generator) -> dict[int, list[int]]:
    """A path through every node (so the search from 0 reaches all n) plus
    random edges: about 4 neighbours per node."""
    graph: dict[int, list[int]] = {i: [] for i in range(n)}
    backbone = [(i, i + 1) for i in range(n - 1)]
    for a, b in backbone + rng.integers(0, n, (n, 2)).tolist():
        graph[a].append(b)
        graph[b].append(a)
    return graph


def weighted(n: int, rng: np.random.Generator) -> dict[int, list[tuple[int, float]]]:
    """A directed cycle through every node (so all n are reachable from 0)
    plus random edges, 4 out-edges per node, weights uniform in [0, 1)."""
    edges: dict[int, list[tuple[int, float]]] = {i: [] for i in range(n)}
    ends = [(i, (i + 1) % n) for i in range(n)] + rng.integers(
        0, n, (3 * n, 2)
    ).tolist()
    for (a, b), w in zip(ends, rng.random(4 * n).tolist(), strict=True):
        edges[a].append((b, w))
    return edges


def unions(n: int, rng: np.random.Generator) -> Any:
    return SimpleNamespace(n=n, pairs=rng.integers(0, n, (n, 2)).tolist())


def accounts(n: int, rng: np.random.Generator) -> dict[int, list[str]]:
    devices = rng.integers(0, 2 * n, (n, 2)).tolist()  # two devices each, some shared
    return {user: [f"d{d}" for d in pair] for user, pair in enumerate(devices)}


def words(n: int, rng: np.random.Generator) -> list[str]:
    letters = rng.integers(0, 26, (n, 8)) + ord("a")
    return ["".join(map(chr, row)) for row in letters.tolist()]


def spans(n: int, rng: np.random.Generator) -> Any:
    starts = rng.integers(0, 10 * n, n)
    pairs = list(
        zip(starts.tolist(), (starts + rng.integers(1, 30, n)).tolist(), strict=True)
    )
    return SimpleNamespace(pairs=pairs, times=rng.integers(0, 10 * n, n).tolist())


def two_strings(n: int, rng: np.random.Generator) -> tuple[str, str]:
    a, b = (rng.integers(0, 4, n) + ord("a") for _ in range(2))
    return "".join(map(chr, a.tolist())), "".join(map(chr, b.tolist()))


def menu(n: int, rng: np.random.Generator) -> Any:
    return SimpleNamespace(
        costs=rng.integers(1, n // 4 + 2, 16).tolist(),
        gains=rng.random(16).tolist(),
        budget=n,
    )


def sequence(n: int, rng: np.random.Generator) -> list[int]:
    return rng.integers(0, n, n).tolist()


def clicks(n: int, rng: np.random.Generator) -> list[int]:
    return rng.integers(0, 3, n).tolist()


def text(n: int, rng: np.random.Generator) -> Any:
    text = "".join(map(chr, (rng.integers(0, 4, n) + ord("a")).tolist()))
    return SimpleNamespace(text=text, pattern=text[n // 2 : n // 2 + 12])


def texts(n: int, rng: np.random.Generator) -> list[str]:
    return [text(100, rng).text for _ in range(max(2, n // 100))]


def shingle_set(n: int, rng: np.random.Generator) -> Any:
    a, b = minhash.hash_family(128)
    return SimpleNamespace(ids=rng.choice(minhash.PRIME, n, replace=False), a=a, b=b)


def signature_matrix(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 1 << 20, (n, 128))

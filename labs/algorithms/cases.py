"""What ``labkit run algorithms`` times: every function, its input at size n (given).

Each ``Case`` builds a random input of size n from a seeded generator and
names the complexity its docstring promises; ``complexity.measure`` times it
at growing sizes and fits the exponent. Sizes are for the tiny preset; a
larger preset multiplies the *work* (so a quadratic case grows n by the
square root). Baselines (``versus``) are the comparisons the brief asks
for: ``sorted`` and ``numpy.partition`` against quickselect, Dijkstra without
a heap, the O(n^2) longest increasing subsequence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labs.algorithms import (
    feature_budget,
    hmm,
    inputs,
    intervals,
    lis,
    minhash,
    paths,
    rolling_hash,
    search,
    selection,
    spelling,
    toposort,
    trie,
    union_find,
)
from labs.algorithms.complexity import Case

DOUBLING = (1, 2, 4, 8, 16)


def _times(base: int) -> tuple[int, ...]:
    return tuple(base * k for k in DOUBLING)


# --- runners: what is timed when it is more than one call ------------------------
def _search_answers(x: Any) -> list[int | None]:
    return [
        search.smallest_passing(1, x.n, lambda b, t=t: b >= t) for t in x.thresholds
    ]


def _run_unions(x: Any) -> Any:
    sets = union_find.UnionFind(range(x.n))
    for a, b in x.pairs:
        sets.union(a, b)
    return [sets.find(i) for i in range(x.n)]


def _build_trie(words: list[str]) -> trie.Trie:
    box = trie.Trie()
    for word in words:
        box.insert(word)
    return box


# --- the cases ----------------------------------------------------------------------

CASES = [
    # m1
    Case(
        name="lower_bound",
        milestone="m1",
        complexity="log n",
        sizes=(1_000, 4_000, 16_000, 64_000, 256_000),
        make=inputs.sorted_list,
        call=lambda x: [search.lower_bound(x.values, t) for t in x.targets],
        n_means="list length (1,000 searches per call)",
    ),
    Case(
        name="upper_bound",
        milestone="m1",
        complexity="log n",
        sizes=(1_000, 4_000, 16_000, 64_000, 256_000),
        make=inputs.sorted_list,
        call=lambda x: [search.upper_bound(x.values, t) for t in x.targets],
        n_means="list length (1,000 searches per call)",
    ),
    Case(
        name="smallest_passing",
        milestone="m1",
        complexity="log n",
        sizes=(100, 10_000, 1_000_000, 100_000_000, 10_000_000_000),
        make=inputs.answer_range,
        call=_search_answers,
        n_means="width of the answer range (100 searches per call)",
    ),
    Case(
        name="kth_largest",
        milestone="m1",
        complexity="n",
        sizes=_times(2_000),
        make=inputs.latencies,
        call=lambda x: selection.kth_largest(x.values, x.k),
        n_means="values",
    ),
    Case(
        name="sorted",
        milestone="m1",
        complexity="n log n",
        sizes=_times(2_000),
        make=inputs.latencies,
        call=lambda x: sorted(x.values, reverse=True)[x.k - 1],
        n_means="values",
        versus="kth_largest",
    ),
    Case(
        name="numpy_partition",
        milestone="m1",
        complexity="n",
        sizes=_times(2_000),
        make=inputs.latencies,
        call=lambda x: np.partition(x.array, len(x.array) - x.k)[len(x.array) - x.k],
        n_means="values",
        versus="kth_largest",
    ),
    # m2
    Case(
        name="topological_order",
        milestone="m2",
        complexity="n log n",
        sizes=_times(500),
        make=inputs.dag,
        call=toposort.topological_order,
        n_means="steps (3 prerequisites each)",
    ),
    Case(
        name="find_cycle",
        milestone="m2",
        complexity="n",
        sizes=_times(1_000),
        make=inputs.ring,
        call=lambda x: toposort.find_cycle(x.graph, x.stuck),
        n_means="steps on one cycle",
    ),
    Case(
        name="bfs_distances",
        milestone="m2",
        complexity="n",
        sizes=_times(1_000),
        make=inputs.undirected,
        call=lambda g: paths.bfs_distances(g, 0),
        n_means="nodes (4 edges each)",
    ),
    Case(
        name="dijkstra",
        milestone="m2",
        complexity="n log n",
        sizes=_times(500),
        make=inputs.weighted,
        call=lambda g: paths.dijkstra(g, 0),
        n_means="nodes (4 edges each)",
    ),
    Case(
        name="dijkstra_dense",
        milestone="m2",
        complexity="n^2",
        sizes=_times(50),
        make=inputs.weighted,
        call=lambda g: paths.dijkstra_dense(g, 0),
        n_means="nodes (4 edges each)",
        versus="dijkstra",
    ),
    Case(
        name="union_find",
        milestone="m2",
        complexity="n",
        sizes=_times(1_000),
        make=inputs.unions,
        call=_run_unions,
        n_means="elements (n unions, n finds)",
    ),
    Case(
        name="merge_accounts",
        milestone="m2",
        complexity="n",
        sizes=_times(1_000),
        make=inputs.accounts,
        call=union_find.merge_accounts,
        n_means="accounts (2 devices each)",
    ),
    # m3
    Case(
        name="trie_insert",
        milestone="m3",
        complexity="n",
        sizes=_times(500),
        make=inputs.words,
        call=_build_trie,
        n_means="8-letter queries inserted",
    ),
    Case(
        name="trie_top_k",
        milestone="m3",
        complexity="n",
        sizes=_times(2_000),
        make=lambda n, rng: _build_trie(inputs.words(n, rng)),
        call=lambda box: box.top_k("a", 10),
        n_means="queries stored (n/26 under the prefix)",
    ),
    Case(
        name="merge_intervals",
        milestone="m3",
        complexity="n log n",
        sizes=_times(1_000),
        make=inputs.spans,
        call=lambda x: intervals.merge_intervals(x.pairs),
        n_means="intervals",
    ),
    Case(
        name="active_counts",
        milestone="m3",
        complexity="n log n",
        sizes=_times(1_000),
        make=inputs.spans,
        call=lambda x: intervals.active_counts(x.pairs, x.times),
        n_means="intervals (and as many query times)",
    ),
    Case(
        name="peak_concurrency",
        milestone="m3",
        complexity="n log n",
        sizes=_times(1_000),
        make=inputs.spans,
        call=lambda x: intervals.peak_concurrency(x.pairs),
        n_means="intervals",
    ),
    # m4
    Case(
        name="edit_distance",
        milestone="m4",
        complexity="n^2",
        sizes=_times(25),
        make=inputs.two_strings,
        call=lambda ab: spelling.edit_distance(*ab),
        n_means="length of each string",
    ),
    Case(
        name="alignment",
        milestone="m4",
        complexity="n^2",
        sizes=_times(25),
        make=inputs.two_strings,
        call=lambda ab: spelling.alignment(*ab),
        n_means="length of each string",
    ),
    Case(
        name="knapsack",
        milestone="m4",
        complexity="n",
        sizes=_times(250),
        make=inputs.menu,
        call=lambda x: feature_budget.knapsack(x.costs, x.gains, x.budget),
        n_means="budget W (16 items)",
    ),
    Case(
        name="longest_increasing_subsequence",
        milestone="m4",
        complexity="n log n",
        sizes=_times(1_000),
        make=inputs.sequence,
        call=lis.longest_increasing_subsequence,
        n_means="values",
    ),
    Case(
        name="lis_length_quadratic",
        milestone="m4",
        complexity="n^2",
        sizes=_times(100),
        make=inputs.sequence,
        call=lis.lis_length_quadratic,
        n_means="values",
        versus="longest_increasing_subsequence",
    ),
    Case(
        name="viterbi",
        milestone="m4",
        complexity="n",
        sizes=_times(500),
        make=inputs.clicks,
        call=lambda obs: hmm.viterbi(hmm.INTENT_HMM, obs),
        n_means="observations (3 states)",
    ),
    # m5
    Case(
        name="window_hashes",
        milestone="m5",
        complexity="n",
        sizes=_times(4_000),
        make=inputs.text,
        call=lambda x: rolling_hash.window_hashes(x.text, 32),
        n_means="characters",
    ),
    Case(
        name="find_all",
        milestone="m5",
        complexity="n",
        sizes=_times(4_000),
        make=inputs.text,
        call=lambda x: rolling_hash.find_all(x.pattern, x.text),
        n_means="characters",
    ),
    Case(
        name="repeated_substrings",
        milestone="m5",
        complexity="n",
        sizes=_times(4_000),
        make=inputs.texts,
        call=lambda t: rolling_hash.repeated_substrings(t, 16),
        n_means="characters in all (100 per text)",
    ),
    Case(
        name="minhash_signature",
        milestone="m5",
        complexity="n",
        sizes=_times(500),
        make=inputs.shingle_set,
        call=lambda x: minhash.signature(x.ids, x.a, x.b),
        n_means="shingles in the set (128 functions)",
    ),
    Case(
        name="lsh_candidates",
        milestone="m5",
        complexity="n",
        sizes=_times(500),
        make=inputs.signature_matrix,
        call=lambda s: minhash.lsh_candidates(s, 32, 4),
        n_means="items (32 bands of 4)",
    ),
]

"""Lab 13, algorithms: the coding round's patterns on ShopStream, complexity measured.

- m1 ``search``, ``selection``: lower and upper bound, binary search on the
  answer, quickselect for a percentile.
- m2 ``toposort``, ``paths``, ``union_find``: Kahn's algorithm with the cycle
  named, BFS, Dijkstra, union-find to merge accounts.
- m3 ``trie``, ``intervals``: top-k completions of a prefix; merging sessions
  and counting live ones with a sweep line.
- m4 ``edit_distance``, ``knapsack``, ``lis``, ``viterbi``: dynamic
  programming.
- m5 ``rolling_hash``, ``minhash``: Rabin–Karp, MinHash with LSH banding.

``shop`` and ``catalogue`` (given) turn ShopStream into each problem's input;
``complexity``, ``inputs`` and ``cases`` (given) time every function at
growing sizes. ``labkit run algorithms`` writes the results page. The brief
is ``README.md``.
"""

from labs.algorithms.feature_budget import greedy_by_ratio, knapsack
from labs.algorithms.hmm import HMM, INTENT_HMM, viterbi
from labs.algorithms.intervals import active_counts, merge_intervals, peak_concurrency
from labs.algorithms.lis import lis_length_quadratic, longest_increasing_subsequence
from labs.algorithms.minhash import (
    candidate_probability,
    exact_similar_pairs,
    hash_family,
    lsh_candidates,
    shingle_ids,
    shingles,
    signature,
    signatures,
)
from labs.algorithms.paths import bfs_distances, dijkstra, dijkstra_dense, path_to
from labs.algorithms.rolling_hash import (
    find_all,
    polynomial_hash,
    repeated_substrings,
    window_hashes,
)
from labs.algorithms.search import lower_bound, smallest_passing, upper_bound
from labs.algorithms.selection import kth_largest, percentile
from labs.algorithms.spelling import (
    alignment,
    correct,
    distance_table,
    edit_distance,
)
from labs.algorithms.toposort import CycleError, find_cycle, topological_order
from labs.algorithms.trie import Trie
from labs.algorithms.union_find import UnionFind, merge_accounts

__all__ = [
    "HMM",
    "INTENT_HMM",
    "CycleError",
    "Trie",
    "UnionFind",
    "active_counts",
    "alignment",
    "bfs_distances",
    "candidate_probability",
    "correct",
    "dijkstra",
    "dijkstra_dense",
    "distance_table",
    "edit_distance",
    "exact_similar_pairs",
    "find_all",
    "find_cycle",
    "greedy_by_ratio",
    "hash_family",
    "knapsack",
    "kth_largest",
    "lis_length_quadratic",
    "longest_increasing_subsequence",
    "lower_bound",
    "lsh_candidates",
    "merge_accounts",
    "merge_intervals",
    "path_to",
    "peak_concurrency",
    "percentile",
    "polynomial_hash",
    "repeated_substrings",
    "shingle_ids",
    "shingles",
    "signature",
    "signatures",
    "smallest_passing",
    "topological_order",
    "upper_bound",
    "viterbi",
    "window_hashes",
]

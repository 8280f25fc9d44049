"""Lab 10, dsa_for_ml: the data structures under an ML system, checked by brute force.

- m1 ``lru``, ``online_cache``: an O(1) LRU cache, read-through in front of
  the feature store's online store.
- m2 ``topk``, ``reservoir``: streaming top-k with a size-k heap; reservoir
  sampling.
- m3 ``consistent_hash``: a hash ring with virtual nodes for a sharded cache.
- m4 ``bloom``, ``rate_limit``: a Bloom filter sized for a false-positive
  rate; a token bucket, exact under a simulated clock.
- m5 ``sliding_window``: per-key sliding-window counts over an event stream,
  equal to the feature store's batch aggregation.

``workloads`` (given) turns ShopStream into access sequences and event
streams. ``labkit run dsa_for_ml`` writes the results page;
``labkit bench dsa_for_ml --json`` the key figures. The brief is ``README.md``.
"""

from labs.dsa_for_ml.bloom import BloomFilter, optimal_parameters, theoretical_fp_rate
from labs.dsa_for_ml.consistent_hash import (
    HashRing,
    load_spread,
    modulo_node,
    stable_hash,
    vnode_points,
)
from labs.dsa_for_ml.lru import CacheStats, LRUCache, replay_hit_rate
from labs.dsa_for_ml.online_cache import CachedOnlineStore, with_cache
from labs.dsa_for_ml.rate_limit import Decision, RateLimiter, TokenBucket
from labs.dsa_for_ml.reservoir import Reservoir, reservoir_sample
from labs.dsa_for_ml.sliding_window import SlidingWindowCounter, WindowValue, replay
from labs.dsa_for_ml.topk import TopK, heavy_hitters, top_k
from labs.dsa_for_ml.workloads import (
    AccessLog,
    access_log,
    clean_impressions,
    stream_events,
)

__all__ = [
    "AccessLog",
    "BloomFilter",
    "CacheStats",
    "CachedOnlineStore",
    "Decision",
    "HashRing",
    "LRUCache",
    "RateLimiter",
    "Reservoir",
    "SlidingWindowCounter",
    "TokenBucket",
    "TopK",
    "WindowValue",
    "access_log",
    "clean_impressions",
    "heavy_hitters",
    "load_spread",
    "modulo_node",
    "optimal_parameters",
    "replay",
    "replay_hit_rate",
    "reservoir_sample",
    "stable_hash",
    "stream_events",
    "theoretical_fp_rate",
    "top_k",
    "vnode_points",
    "with_cache",
]

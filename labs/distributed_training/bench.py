"""``labkit bench distributed_training --json``: the three targets, medians of repeated runs.

Figures (each a median of ``REPEATS`` runs, with the runs' spread):

- ``ring_ms``, ``naive_ms``, ``ring_speedup``: all-reduce of ``LARGEST``
  float32 elements on 4 ranks (target: ring at least as fast as naive);
- ``overlap_step_ms``, ``no_overlap_step_ms``, ``overlap_speedup``: a DDP
  step of the medium GPT on 2 ranks, overlap on and off alternating step by
  step in the same run, its all-reduces given the wire time of a
  ``LINK_GBPS`` link (:mod:`~labs.distributed_training.slow_link`; target:
  overlap faster); ``loopback_overlap_speedup``: the same on bare loopback,
  where two ranks on two cores leave no idle core to hide copies behind;
- ``zero2_optimizer_bytes``, ``zero2_formula_bytes``, ``zero2_gap``: ZeRO-2's
  Adam state per rank on 4 ranks against 8Ψ/N (target: within 5%);
- ``leftover_processes``: rank processes (and the fork server) still alive
  after the bench (target: 0).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from common.results import Results
from infra.rank_process import fork_server_pid, stop_fork_server
from infra.torch_dist import RankGroup
from labs.distributed_training import measure
from labs.distributed_training.zero import state_within

LARGEST = 8_000_000  # float32 elements: 32 MB
LINK_GBPS = 1.0  # the emulated link of the overlap target: commodity Ethernet
REPEATS = 5
PRESETS = {"tiny": {"repeats": 3}, "small": {}}


def _spread(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
    }


def bench(results: Results, *, preset: str = "small") -> None:
    """Measure the three targets; check that no process outlives the bench."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}.")
    repeats = PRESETS[preset].get("repeats", REPEATS)
    largest = PRESETS[preset].get("largest", LARGEST)
    for needs in (("m1",), ("m2",), ("m1", "m3")):
        if not results.needs(*needs, what="the benchmark's targets"):
            raise NotImplementedError(
                f"distributed_training {needs[-1]}: the benchmark measures m1, m2 and m3"
            )
    group = RankGroup.start(4)
    try:
        ring, naive = [], []
        for _ in range(repeats):
            row = measure.all_reduce_times(group, [largest], world_size=4)[0]
            ring.append(row["ring_ms"])
            naive.append(row["naive_ms"])
        overlap, no_overlap, loopback = [], [], []
        for _ in range(repeats):
            knobs: dict[str, Any] = {"pairs": 4, "rows": 8, "bucket_cap_bytes": 1 << 18}
            times = measure.overlap_step_times(
                group, "medium", link_gbps=LINK_GBPS, **knobs
            )
            overlap.append(1e3 * times["overlap"])
            no_overlap.append(1e3 * times["no_overlap"])
            loopback.append(
                measure.overlap_step_times(group, "medium", **knobs)["speedup"]
            )
        zero = next(
            r for r in measure.zero_state(group, "small", [4]) if r["stage"] == 2
        )
    finally:
        group.close()
    server = fork_server_pid()
    stop_fork_server()
    leftovers = _alive([*group.spawned, *([server] if server else [])])
    _record(
        results, preset, largest, ring, naive, overlap, no_overlap, loopback, zero,
        leftovers,
    )  # fmt: skip


def _alive(pids: list[int], within_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while True:
        left = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[0] != "Z":
                        left.append(pid)
            except OSError:
                pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _record(
    results: Results, preset: str, largest: int, ring: list[float], naive: list[float],
    overlap: list[float], no_overlap: list[float], loopback: list[float],
    zero: dict[str, Any], leftovers: list[int],
) -> None:  # fmt: skip
    speedups = [n / r for r, n in zip(ring, naive, strict=True)]
    overlap_gain = [n / o for o, n in zip(overlap, no_overlap, strict=True)]
    gap = state_within(zero["optimizer_bytes"], zero["optimizer_formula"])
    results.add("preset", preset)
    results.add("repeats", len(ring))
    results.add("largest_elements", largest)
    results.add("ring_ms", _spread(ring))
    results.add("naive_ms", _spread(naive))
    results.add("ring_speedup", _spread(speedups))
    results.add("overlap_step_ms", _spread(overlap))
    results.add("no_overlap_step_ms", _spread(no_overlap))
    results.add("overlap_speedup", _spread(overlap_gain))
    results.add("link_gbps", LINK_GBPS)
    results.add("loopback_overlap_speedup", _spread(loopback))
    results.add("zero2_optimizer_bytes", zero["optimizer_bytes"])
    results.add("zero2_formula_bytes", zero["optimizer_formula"])
    results.add("zero2_gap", gap)
    results.add("leftover_processes", len(leftovers))
    results.add(
        "targets_met",
        {
            "ring_at_least_naive": statistics.median(speedups) >= 1.0,
            "overlap_faster": statistics.median(overlap_gain) > 1.0,
            "zero2_within_5_percent": gap <= 0.05,
            "no_leftover_processes": not leftovers,
        },
    )
    results.table(
        [
            {"figure": "ring all-reduce (ms)", **_spread(ring)},
            {"figure": "naive all-reduce (ms)", **_spread(naive)},
            {"figure": "naive / ring", **_spread(speedups)},
            {"figure": "DDP step, overlap (ms)", **_spread(overlap)},
            {"figure": "DDP step, no overlap (ms)", **_spread(no_overlap)},
            {"figure": "no overlap / overlap", **_spread(overlap_gain)},
            {"figure": "no overlap / overlap, loopback", **_spread(loopback)},
        ],
        title=f"Medians of {len(ring)} runs (4 ranks for the all-reduce of {largest:,} "
        f"floats; 2 ranks for the medium GPT's step, on an emulated {LINK_GBPS:g} "
        "Gb/s link unless marked loopback)",
    )
    results.text(
        f"ZeRO-2 on 4 ranks: {zero['optimizer_bytes']:,} bytes of Adam state per rank "
        f"against 8Ψ/N = {zero['optimizer_formula']:,.0f} ({100 * gap:.2f}% apart). "
        f"Rank processes left running after the bench: {len(leftovers)}."
    )

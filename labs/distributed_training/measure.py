"""The lab's experiments, each a function of a rank group: rows for a table, figures for a page.

``run.py`` and ``bench.py`` call these with one :class:`~infra.torch_dist.RankGroup`
of four ranks started once; each returns plain rows (dicts) that go into the
results page as they are. Times are medians; every byte count is counted by
``Comm`` in the ranks and set beside its formula.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

from infra.torch_dist import RankGroup
from labs.distributed_training.comm import ring_bytes
from labs.distributed_training.elastic import run_with_kill
from labs.distributed_training.pipeline import bubble_fraction
from labs.distributed_training.workload import SIZES, build_model
from labs.distributed_training.zero import zero_state_formula

PROGRAMS = "labs.distributed_training.programs"
RUN_TIMEOUT_S = 120.0


def _run(group: RankGroup, program: str, spec: Any, world_size: int) -> list[Any]:
    target = program if ":" in program else f"{PROGRAMS}:{program}"
    return group.run(target, spec, world_size=world_size, timeout_s=RUN_TIMEOUT_S)


def n_params(size: dict[str, int]) -> int:
    return sum(p.numel() for p in build_model(size, 0).parameters())


def all_reduce_times(
    group: RankGroup, sizes: list[int], world_size: int, repeats: int = 5
) -> list[dict[str, Any]]:
    """Ring, naive and gloo's own all-reduce on float32 tensors of each size."""
    rows = []
    for numel in sizes:
        row: dict[str, Any] = {"elements": numel, "MB": numel * 4 / 1e6}
        for algorithm in ("ring", "naive", "gloo"):
            spec = {"numel": numel, "algorithm": algorithm, "repeats": repeats}
            out = _run(group, "time_all_reduce", spec, world_size)
            row[f"{algorithm}_ms"] = 1e3 * max(r["seconds"] for r in out)
            if algorithm != "gloo":
                row[f"{algorithm}_bytes_max"] = max(r["bytes_sent"] for r in out)
        row["ring_formula_bytes"] = ring_bytes(numel, 4, world_size)
        row["naive_over_ring"] = row["naive_ms"] / row["ring_ms"]
        rows.append(row)
    return rows


def ddp_step_times(
    group: RankGroup, size_name: str, *, world_size: int, steps: int, rows: int,
    bucket_cap_bytes: int,
) -> dict[str, float]:  # fmt: skip
    """Median step seconds (first step dropped): overlap on, off, PyTorch DDP."""
    spec: dict[str, Any] = {
        "size": SIZES[size_name],
        "seed": 0,
        "rows": [rows] * steps,
        "bucket_cap_bytes": bucket_cap_bytes,
    }
    variants = {
        "overlap": {"overlap": True},
        "no_overlap": {"overlap": False},
        "torch_ddp": {"impl": "torch"},
    }
    out = {}
    for name, extra in variants.items():
        per_rank = _run(group, "train_data_parallel", {**spec, **extra}, world_size)
        step_s = [max(r["step_s"][i] for r in per_rank) for i in range(1, steps)]
        out[name] = statistics.median(step_s)
    return out


def overlap_step_times(
    group: RankGroup, size_name: str, *, pairs: int, rows: int,
    bucket_cap_bytes: int, link_gbps: float | None = None,
) -> dict[str, float]:  # fmt: skip
    """Median step seconds, overlap on and off alternating in one run, on 2 ranks.

    Each step's time is the slower rank's. With ``link_gbps`` every
    all-reduce also takes that link's wire time (:mod:`slow_link`), the time
    a NIC spends while the CPU computes; without it, loopback's copies.
    """
    spec = {"size": SIZES[size_name], "rows": rows, "pairs": pairs,
            "bucket_cap_bytes": bucket_cap_bytes, "link_gbps": link_gbps}  # fmt: skip
    per_rank = _run(group, "time_overlap", spec, 2)
    out = {
        name: statistics.median(max(r[name][i] for r in per_rank) for i in range(pairs))
        for name in ("overlap", "no_overlap")
    }
    return {**out, "speedup": out["no_overlap"] / out["overlap"]}


def straggler_step_times(
    group: RankGroup, *, world_size: int, delay_s: float, steps: int = 6
) -> dict[str, float]:
    """Median step seconds with every rank at speed, and with rank 1 slowed by ``delay_s``."""
    spec: dict[str, Any] = {"size": SIZES["small"], "seed": 0, "rows": [8] * steps}
    out = {}
    for name, extra in {"even": {}, "one_slow": {"straggler": 1, "straggler_delay_s": delay_s}}.items():  # fmt: skip
        per_rank = _run(group, "train_data_parallel", {**spec, **extra}, world_size)
        out[name] = statistics.median(
            min(r["step_s"][i] for r in per_rank) for i in range(1, steps)
        )
    return out


def zero_state(
    group: RankGroup, size_name: str, worlds: list[int]
) -> list[dict[str, Any]]:
    """Bytes per rank (the largest rank) against the formulas, ZeRO-1 and ZeRO-2."""
    rows_out = []
    for stage in (1, 2):
        for world in worlds:
            spec = {"size": SIZES[size_name], "seed": 0, "rows": 12, "lr": 1e-3,
                    "steps": 2, "stage": stage}  # fmt: skip
            out = _run(group, "train_zero", spec, world)
            n = out[0]["n_params"]
            formula = zero_state_formula(n, world, stage)
            held = max((r["state_bytes"] for r in out), key=lambda s: s["optimizer"])
            rows_out.append(
                {
                    "stage": stage,
                    "ranks": world,
                    "params": n,
                    "optimizer_bytes": held["optimizer"],
                    "optimizer_formula": formula["optimizer"],
                    "gradient_bytes": held["gradients"],
                    "gradient_formula": formula["gradients"],
                    "bytes_sent_per_step": out[0]["bytes_per_step"][-1],
                    "ddp_formula_bytes": ring_bytes(n, 4, world),
                }
            )
    return rows_out


def zero3_traffic(group: RankGroup, numel: int, world_size: int) -> dict[str, float]:
    out = _run(group, "zero3_traffic", {"numel": numel}, world_size)
    zero3 = statistics.mean(r["zero3_bytes"] for r in out)
    ddp = statistics.mean(r["ddp_bytes"] for r in out)
    return {"zero3_bytes": zero3, "ddp_bytes": ddp, "ratio": zero3 / ddp}


def bubbles(
    group: RankGroup, stages: list[int], micro: list[int], delay_s: float
) -> list[dict[str, Any]]:
    """Measured bubble against (p − 1)/(m + p − 1), each stage's compute made ``delay_s`` long."""
    size = {**SIZES["tiny"], "n_layer": max(stages)}
    rows = []
    for p in stages:
        for m in micro:
            spec = {"size": size, "seed": 0, "rows": max(micro), "n_micro": m,
                    "delay_s": delay_s}  # fmt: skip
            out = _run(group, "pipeline_step", spec, p)
            rows.append(
                {
                    "stages": p,
                    "micro_batches": m,
                    "bubble": bubble_fraction([r["events"] for r in out]),
                    "formula": (p - 1) / (m + p - 1),
                    "bytes_sent_per_stage": max(r["bytes_sent"] for r in out),
                }
            )
    return rows


def tensor_parallel_bytes(group: RankGroup, worlds: list[int]) -> list[dict[str, Any]]:
    """Bytes one Megatron MLP sends per rank, forward and backward, against 2(N−1)/N × BTC·4."""
    spec = {"seed": 0, "n_embd": 64, "rows": 4, "tokens": 32}
    size = spec["rows"] * spec["tokens"] * spec["n_embd"]
    rows = []
    for world in worlds:
        out = _run(group, "tensor_parallel_mlp", spec, world)
        rows.append(
            {
                "ranks": world,
                "activation_bytes": size * 4,
                "forward_bytes_per_rank": statistics.mean(
                    r["forward_bytes"] for r in out
                ),
                "backward_bytes_per_rank": statistics.mean(
                    r["backward_bytes"] for r in out
                ),
                "formula_each_way": ring_bytes(size, 4, world),
            }
        )
    return rows


def survive_a_kill(group: RankGroup, steps: int, kill_step: int) -> dict[str, Any]:
    """Kill rank 1 mid-epoch; restart; compare the weights with an uninterrupted run."""
    import torch

    spec = {"size": SIZES["tiny"], "seed": 0, "steps": steps, "rows": 8, "lr": 0.01,
            "every": 3}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="labkit-ckpt-") as tmp:
        began = time.perf_counter()
        whole = _run(
            group, "labs.distributed_training.elastic:train_resumable",
            {**spec, "checkpoint_dir": f"{tmp}/whole"}, 2,
        )  # fmt: skip
        whole_s = time.perf_counter() - began
        began = time.perf_counter()
        run, killed = run_with_kill(
            {**spec, "checkpoint_dir": f"{tmp}/killed"},
            kill={"rank": 1, "step": kill_step},
            world_size=2,
            timeout_s=RUN_TIMEOUT_S,
        )
        killed_s = time.perf_counter() - began
    return {
        "steps": steps,
        "killed_at_step": kill_step,
        "killed_pids": killed,
        "restarts": run.restarts,
        "resumed_at_step": run.results[0]["first_step"],
        "steps_redone": kill_step - run.results[0]["first_step"],
        "weights_equal": all(
            torch.equal(a["params"], b["params"])
            for a, b in zip(run.results, whole, strict=True)
        ),
        "uninterrupted_s": whole_s,
        "with_kill_s": killed_s,
        "rank_pids": run.pids,
    }

"""``labkit run distributed_training``: what each kind of parallelism sends, holds and costs.

    labkit run distributed_training                 # small preset, about 30 s
    labkit run distributed_training --preset tiny   # the demo's, about 20 s

Four ranks (gloo on 127.0.0.1) are started once and serve every
experiment; each section answers an interviewer's question with what it
measured: ring against naive all-reduce, DDP's step with and without
overlap and beside PyTorch's DDP (and with a straggler), ZeRO's bytes per
rank against the formulas and ZeRO-3's traffic, the GPipe bubble, tensor
parallelism's bytes per layer, and a job that survives a killed rank. At
the end every rank process must be gone.
"""

from __future__ import annotations

import logging
from typing import Any

from common.results import Results
from infra.torch_dist import RankGroup
from labs.distributed_training import measure
from labs.distributed_training.workload import SIZES

LINK_GBPS = 1.0  # the emulated link of the overlap figure (see slow_link.py)

log = logging.getLogger(__name__)

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "sizes": [1_000, 100_000, 1_000_000],
        "ddp_model": "small",
        "ddp_steps": 4,
        "zero_model": "tiny",
        "stages": [2, 4],
        "micro": [1, 2, 4, 8],
        "delay_s": 0.01,
        "elastic_steps": 8,
    },
    "small": {
        "sizes": [1_000, 10_000, 100_000, 1_000_000, 4_000_000],
        "ddp_model": "medium",
        "ddp_steps": 6,
        "zero_model": "small",
        "stages": [2, 3, 4],
        "micro": [1, 2, 4, 8, 16],
        "delay_s": 0.02,
        "elastic_steps": 12,
    },
}


def run(results: Results, *, preset: str = "small") -> None:
    """Every experiment of the lab at ``preset`` (tiny or small)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}.")
    knobs = PRESETS[preset]
    results.add("preset", preset)
    group = RankGroup.start(4)
    try:
        for needs, what, section in SECTIONS:
            if results.needs(*needs, what=what):
                section(results, group, knobs)
    finally:
        group.close()
    from infra.rank_process import stop_fork_server

    stop_fork_server()
    results.add("rank_processes_started", len(group.spawned))


def _collectives(results: Results, group: RankGroup, knobs: dict[str, Any]) -> None:
    results.text("## m1 — all-reduce from send/recv (4 ranks)")
    rows = measure.all_reduce_times(group, knobs["sizes"], world_size=4)
    results.table(
        rows, title="All-reduce of float32 tensors: median of 5, slowest rank"
    )
    largest = rows[-1]
    results.add("m1", {
        "ranks": 4,
        "largest_elements": largest["elements"],
        "ring_ms": largest["ring_ms"],
        "naive_ms": largest["naive_ms"],
        "gloo_ms": largest["gloo_ms"],
        "naive_over_ring": largest["naive_over_ring"],
        "ring_bytes_per_rank": largest["ring_bytes_max"],
        "ring_formula_bytes": largest["ring_formula_bytes"],
        "naive_root_bytes": largest["naive_bytes_max"],
    })  # fmt: skip
    with results.plot("all_reduce", "All-reduce time against size, 4 ranks") as ax:
        mb = [r["MB"] for r in rows]
        for name in ("ring", "naive", "gloo"):
            ax.plot(mb, [r[f"{name}_ms"] for r in rows], marker="o", label=name)
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlabel("tensor (MB)"), ax.set_ylabel("ms"), ax.legend()


def _data_parallel(results: Results, group: RankGroup, knobs: dict[str, Any]) -> None:
    results.text("## m2 — data parallelism: what a step sends, and overlap")
    model = knobs["ddp_model"]
    n = measure.n_params(SIZES[model])
    times = measure.ddp_step_times(
        group, model, world_size=2, steps=knobs["ddp_steps"], rows=8,
        bucket_cap_bytes=1 << 18,
    )  # fmt: skip
    link = measure.overlap_step_times(
        group, model, pairs=8, rows=8, bucket_cap_bytes=1 << 18, link_gbps=LINK_GBPS
    )
    slow = measure.straggler_step_times(group, world_size=2, delay_s=0.2)
    results.add("m2", {
        "model": model,
        "params": n,
        "ranks": 2,
        "gradient_bytes": 4 * n,
        "bytes_per_step_per_rank": 2 * (2 - 1) / 2 * 4 * n,
        "step_ms": {k: 1e3 * v for k, v in times.items()},
        "overlap_speedup": times["no_overlap"] / times["overlap"],
        "link_gbps": LINK_GBPS,
        "link_step_ms": {k: 1e3 * link[k] for k in ("overlap", "no_overlap")},
        "link_overlap_speedup": link["speedup"],
        "straggler_delay_ms": 200.0,
        "step_ms_even": 1e3 * slow["even"],
        "step_ms_one_slow": 1e3 * slow["one_slow"],
    })  # fmt: skip
    results.table(
        [{"variant": k, "step_ms": 1e3 * v} for k, v in times.items()],
        title=f"{model} GPT ({n:,} parameters), 2 ranks, 256 kB buckets: median step",
    )
    results.text(
        f"On an emulated {LINK_GBPS:g} Gb/s link (each all-reduce first waits its "
        "wire time, as a NIC works while the CPU computes; overlap on and off "
        f"alternating step by step): {1e3 * link['overlap']:.0f} ms with overlap, "
        f"{1e3 * link['no_overlap']:.0f} ms without, {link['speedup']:.2f}×. On "
        f"loopback (the table) it was {times['no_overlap'] / times['overlap']:.2f}×, "
        "a figure that swings from run to run: two ranks on two cores leave no "
        "idle core, so the copies overlap hides compete with backward for the CPU."
    )
    results.text(
        f"One rank 200 ms slower before backward: every rank's step went from "
        f"{1e3 * slow['even']:.0f} ms to {1e3 * slow['one_slow']:.0f} ms (the fastest "
        "rank's median): synchronous training runs at the slowest rank's pace."
    )


def _zero(results: Results, group: RankGroup, knobs: dict[str, Any]) -> None:
    results.text("## m3 — ZeRO: bytes per rank against the formulas")
    rows = measure.zero_state(group, knobs["zero_model"], [1, 2, 3, 4])
    results.table(
        rows, title="Adam state and gradients held per rank (the largest shard)"
    )
    n = rows[0]["params"]
    traffic = measure.zero3_traffic(group, n, world_size=4)
    stage2 = {r["ranks"]: r for r in rows if r["stage"] == 2}
    results.add("m3", {
        "params": n,
        "zero2_optimizer_bytes": {str(k): r["optimizer_bytes"] for k, r in stage2.items()},
        "zero2_gradient_bytes": {str(k): r["gradient_bytes"] for k, r in stage2.items()},
        "zero2_bytes_sent_per_step_4_ranks": stage2[4]["bytes_sent_per_step"],
        "ddp_bytes_per_step_4_ranks": stage2[4]["ddp_formula_bytes"],
        "zero3_bytes_per_step_4_ranks": traffic["zero3_bytes"],
        "zero3_over_ddp": traffic["ratio"],
    })  # fmt: skip
    results.text(
        f"ZeRO-3 on 4 ranks, counted: {traffic['zero3_bytes']:,.0f} bytes per rank per "
        f"step against DDP's {traffic['ddp_bytes']:,.0f}, {traffic['ratio']:.2f}× "
        "(two all-gathers of the weights and a reduce-scatter, against two half-rings)."
    )


def _pipeline(results: Results, group: RankGroup, knobs: dict[str, Any]) -> None:
    results.text("## m4 — the GPipe bubble")
    rows = measure.bubbles(group, knobs["stages"], knobs["micro"], knobs["delay_s"])
    results.table(rows, title="Idle share of a step against (p − 1)/(m + p − 1)")
    results.add("m4", {
        "delay_ms": 1e3 * knobs["delay_s"],
        "bubble": {f"p{r['stages']}_m{r['micro_batches']}": r["bubble"] for r in rows},
        "worst_gap": max(abs(r["bubble"] - r["formula"]) for r in rows),
        "bytes_per_stage_boundary": max(r["bytes_sent_per_stage"] for r in rows),
    })  # fmt: skip
    with results.plot(
        "bubble", "Measured bubble (dots) and (p−1)/(m+p−1) (lines)"
    ) as ax:
        for p in knobs["stages"]:
            mine = [r for r in rows if r["stages"] == p]
            m = [r["micro_batches"] for r in mine]
            ax.plot(m, [r["formula"] for r in mine], label=f"p={p} formula")
            ax.scatter(m, [r["bubble"] for r in mine])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("micro-batches m"), ax.set_ylabel("bubble"), ax.legend()


def _tensor_parallel(results: Results, group: RankGroup, knobs: dict[str, Any]) -> None:
    results.text("## m5 — tensor parallelism: bytes per MLP layer")
    rows = measure.tensor_parallel_bytes(group, [2, 4])
    results.table(rows, title="Megatron MLP, (4, 32, 64) activations: bytes per rank")
    results.add("m5", {
        "activation_bytes": rows[0]["activation_bytes"],
        "forward_bytes_per_rank": {str(r["ranks"]): r["forward_bytes_per_rank"] for r in rows},
        "backward_bytes_per_rank": {str(r["ranks"]): r["backward_bytes_per_rank"] for r in rows},
    })  # fmt: skip


def _fault_tolerance(results: Results, group: RankGroup, knobs: dict[str, Any]) -> None:
    results.text("## m6 — a rank killed by its pid, the job restarted")
    steps = knobs["elastic_steps"]
    out = measure.survive_a_kill(group, steps=steps, kill_step=steps - 1)
    results.add(
        "m6", {k: v for k, v in out.items() if k not in ("rank_pids", "killed_pids")}
    )
    results.text(
        f"Rank 1 killed (SIGKILL) at step {out['killed_at_step']} of {steps}; the job "
        f"restarted {out['restarts']} time(s) on new processes, resumed at step "
        f"{out['resumed_at_step']} (redoing {out['steps_redone']} step(s)), and its "
        f"weights {'equal' if out['weights_equal'] else 'DIFFER from'} an "
        f"uninterrupted run's. {out['with_kill_s']:.1f} s against "
        f"{out['uninterrupted_s']:.1f} s uninterrupted."
    )


# (milestones a section runs, what it measures, the section): `labkit run --mine`
# skips a section whose milestones are still stubs in the candidate's copy.
SECTIONS = (
    (("m1",), "m1: ring against naive all-reduce", _collectives),
    (("m2",), "m2: DDP step times and the straggler", _data_parallel),
    (("m1", "m3"), "m3: ZeRO's bytes per rank", _zero),
    (("m4",), "m4: the GPipe bubble", _pipeline),
    (("m1", "m5"), "m5: tensor parallelism's bytes", _tensor_parallel),
    (("m1", "m3", "m6"), "m6: surviving a killed rank", _fault_tolerance),
)

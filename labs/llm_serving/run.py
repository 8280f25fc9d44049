"""``labkit run llm_serving``: measure the engine and the service, answer the brief's questions.

The page (``results/llm_serving/README.md``) holds, in order:

1. the model and its KV bytes per token;
2. prefill against decode (m1), and a decode step's cost by batch size;
3. the same workload through static batching, continuous batching and
   continuous batching over the paged cache, in process (m2, m3): tokens/s,
   KV memory reserved against used, and what preemption cost;
4. the three modes over HTTP under open-loop Poisson load at rising rates
   (m5): p50/p99 TTFT, TPOT, tokens/s and goodput; the knee of each, and the
   replicas a target rate needs;
5. streaming: the first token against the whole answer, over HTTP (m4),
   measured on the paged server after its sweep.

Presets (``--preset``): ``tiny`` (the demo: a short sweep, under a minute)
and ``small`` (the default: a longer window, a fuller sweep, a few minutes).
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import Any

import httpx

from common.results import Results
from labs.llm_serving.capacity import knee_rate, replicas_needed
from labs.llm_serving.checkpoint import ensure_model
from labs.llm_serving.load_metrics import SLO
from labs.llm_serving.measure import (
    decode_cost_by_batch,
    engine_run,
    prefill_decode_costs,
)
from labs.llm_serving.study import KV_WINDOWS, MAX_NUM_SEQS, sweep
from labs.llm_serving.workload import draw_requests, mean_output_tokens
from labs.transformer.kv_cache import kv_cache_bytes
from labs.transformer.model import parameter_count

log = logging.getLogger(__name__)

SLO_TARGET = SLO(ttft_s=0.5, tpot_s=0.05)  # the service's promise to a reader
MIN_ATTAINMENT = 0.9  # a rate is served when 90% of its requests meet the SLO
HEADROOM = 0.3  # a replica is planned at 70% of its knee
TARGET_RPS = 200.0  # the capacity question: ShopStream's peak generation traffic
SWEEPS = {  # preset -> (rates in requests/s, seconds per rate)
    "tiny": ((10.0, 30.0, 60.0), 1.5),
    "small": ((5.0, 10.0, 20.0, 30.0, 45.0), 5.0),
}
ENGINE_REQUESTS = {"tiny": 48, "small": 96}  # queued at once for the in-process runs
LABELS = {"static": "static", "continuous": "continuous", "continuous+paged": "paged"}


def _model(results: Results, preset: str) -> Any:
    served = ensure_model(preset, device="cpu")
    config = served.config
    per_token = kv_cache_bytes(
        n_layer=config.n_layer,
        n_kv_head=config.n_head,
        head_size=config.head_size,
        seq_len=1,
    )
    results.add(
        "model",
        {
            "preset": preset,
            "parameters": parameter_count(config),
            "n_layer": config.n_layer,
            "n_head": config.n_head,
            "n_embd": config.n_embd,
            "context_window": config.block_size,
            "kv_bytes_per_token": per_token,
            "weight_bytes": 4 * parameter_count(config),
            "val_loss": served.val_loss,
            "train_s": served.train_s,
        },
    )
    results.text(
        f"## The model\n\nLab 7's GPT, preset `{preset}`: {config.n_layer} layers, "
        f"{config.n_head} heads, {config.n_embd} channels, a {config.block_size}-character "
        f"window, {parameter_count(config):,} parameters ({4 * parameter_count(config):,} "
        f"bytes in float32), validation loss {served.val_loss:.3f} nats/char after "
        f"{served.train_s:.0f} s of training (`ensure_model`, reused from `data/` after "
        f"the first run). Its KV cache costs 2 × {config.n_layer} layers × "
        f"{config.n_head} heads × {config.head_size} × 4 bytes = **{per_token:,} bytes per "
        f"token**, so one full window is {per_token * config.block_size:,} bytes."
    )
    return served


def _engine(results: Results, served: Any, preset: str) -> None:
    model, tok = served.model, served.tokenizer
    if results.needs("m1", what="prefill against decode"):
        cost = prefill_decode_costs(
            model, prompt_len=min(64, model.config.block_size // 2)
        )
        results.add("prefill_decode", cost)
        results.text(
            "## Prefill against decode (m1)\n\n"
            f"A {cost['prompt_len']}-token prompt prefills in one pass at "
            f"{cost['prefill_ms_per_token']:.3f} ms per token; each decode step of one "
            f"sequence costs {cost['decode_ms_per_step']:.3f} ms, "
            f"**{cost['decode_over_prefill']:.0f}×** as much per token: a decode step "
            "reads every weight to produce one token, a prefill shares the read among "
            f"{cost['prompt_len']}."
        )
    if results.needs("m2", "m3", what="decode cost by batch size"):
        sizes = (1, 4, 16, 32)
        by_batch = decode_cost_by_batch(model, tok, sizes)
        results.add("decode_ms_by_batch", {str(b): ms for b, ms in by_batch.items()})
        results.add("decode_batch32_over_batch1", by_batch[32] / by_batch[1])
        results.table(
            [
                {"batch": b, "ms per step": ms, "ms per token": ms / b}
                for b, ms in by_batch.items()
            ],
            title="One decode step by batch size (64 positions of context each)",
        )
        results.text(
            f"32 sequences cost {by_batch[32] / by_batch[1]:.1f}× one sequence's step, "
            f"so a token costs {by_batch[32] / by_batch[1] / 32:.2f}× as much in a batch of 32."
        )
    if not results.needs("m2", "m3", what="static, continuous and paged in process"):
        return
    context = model.config.block_size
    bodies = draw_requests(ENGINE_REQUESTS[preset], context_window=context, seed=1)
    rows = [
        engine_run(
            model,
            tok,
            bodies,
            mode=mode,
            capacity_tokens=KV_WINDOWS * context,
            max_num_seqs=MAX_NUM_SEQS,
        )
        for mode in ("static", "continuous", "paged")
    ]
    by_mode = {row["mode"]: row for row in rows}
    results.add("engine", by_mode)
    results.add("kv_waste", {m: by_mode[m]["waste"] for m in by_mode})
    results.table(
        rows,
        title=f"{len(bodies)} requests, all queued at once, in process",
        columns=[
            "mode",
            "tokens_per_s",
            "steps",
            "mean_batch",
            "preemptions",
            "recomputed_tokens",
            "reserved_tokens",
            "used_tokens",
            "waste",
        ],
    )
    paged, contiguous = by_mode["paged"], by_mode["continuous"]
    results.text(
        f"## Memory (m3)\n\nThe same KV budget, {KV_WINDOWS * context:,} token slots: "
        f"max-length preallocation held on average {contiguous['reserved_tokens']:.0f} "
        f"slots for {contiguous['used_tokens']:.0f} positions in use, "
        f"**{contiguous['waste']:.0%} wasted**; the paged cache (blocks of 16) held "
        f"{paged['reserved_tokens']:.0f} for {paged['used_tokens']:.0f}, "
        f"**{paged['waste']:.0%}**, so its batch averaged {paged['mean_batch']:.1f} "
        f"sequences against {contiguous['mean_batch']:.1f}. It paid with "
        f"{paged['preemptions']} preemptions, recomputing {paged['recomputed_tokens']} "
        f"tokens, {paged['recomputed_tokens'] / paged['computed_tokens']:.1%} of the "
        "tokens it computed: preemption by recompute costs a prefill of the victim's "
        "whole sequence, cheap here because a prefill token is cheap."
    )
    results.add(
        "preemption",
        {
            "count": paged["preemptions"],
            "recomputed_tokens": paged["recomputed_tokens"],
            "recomputed_share": paged["recomputed_tokens"] / paged["computed_tokens"],
        },
    )


def _sweeps(results: Results, served: Any, preset: str) -> None:
    if not results.needs("m4", "m5", what="the load sweep over HTTP"):
        return
    rates, seconds = SWEEPS[preset]
    context = served.config.block_size
    bodies = draw_requests(600, context_window=context, seed=2)
    results.add(
        "slo",
        {
            "ttft_s": SLO_TARGET.ttft_s,
            "tpot_s": SLO_TARGET.tpot_s,
            "min_attainment": MIN_ATTAINMENT,
        },
    )
    results.add("workload_mean_output_tokens", mean_output_tokens(bodies))
    points: list[dict[str, Any]] = []
    knees: dict[str, Any] = {}
    for mode, label in LABELS.items():
        got = sweep(
            mode, rates, bodies, preset=preset, duration_s=seconds, slo=SLO_TARGET
        )
        points += got
        knee = knee_rate(got, min_attainment=MIN_ATTAINMENT)
        best = max(got, key=lambda p: p["goodput_rps"])
        top = max(got, key=lambda p: p["rate"])
        knees[label] = {
            "knee_rps": knee,
            "top_rate": top["rate"],
            "top_ttft_p99_s": top["ttft_p99_s"],
            "max_goodput_rps": best["goodput_rps"],
            "max_tokens_per_s": max(p["tokens_per_s"] for p in got),
            "points": got,
        }
    results.add("sweep", knees)
    results.table(
        points,
        title=f"Open-loop Poisson load ({seconds:.0f} s per rate)",
        columns=[
            "mode",
            "rate",
            "offered",
            "completed",
            "rejected",
            "tokens_per_s",
            "ttft_p50_s",
            "ttft_p99_s",
            "tpot_p50_s",
            "tpot_p99_s",
            "goodput_rps",
            "slo_attainment",
            "preemptions",
        ],
    )
    for metric, label, log_y in (
        ("ttft_p99_s", "p99 TTFT (s)", True),
        ("goodput_rps", "goodput (requests/s within the SLO)", False),
        ("tokens_per_s", "tokens/s", False),
    ):
        with results.plot(metric, f"{label} against the offered rate") as ax:
            for label_mode in knees:
                got = knees[label_mode]["points"]
                ax.plot(
                    [p["rate"] for p in got],
                    [p[metric] for p in got],
                    marker="o",
                    label=label_mode,
                )
            if metric == "ttft_p99_s":
                ax.axhline(
                    SLO_TARGET.ttft_s, color="grey", linestyle="--", label="TTFT SLO"
                )
            if log_y:
                ax.set_yscale("log")
            ax.set_xlabel("offered requests/s (Poisson)")
            ax.set_ylabel(label)
            ax.legend()
    best = max(knees.values(), key=lambda k: k["knee_rps"])
    best_name = next(name for name, k in knees.items() if k is best)
    per_replica = best["knee_rps"]
    if per_replica > 0:
        n = replicas_needed(TARGET_RPS, per_replica, headroom=HEADROOM)
        results.add(
            "replicas",
            {
                "target_rps": TARGET_RPS,
                "per_replica_rps": per_replica,
                "headroom": HEADROOM,
                "count": n,
                "mode": best_name,
            },
        )
        results.text(
            f"## How many replicas?\n\nAt an SLO of TTFT ≤ {SLO_TARGET.ttft_s} s and "
            f"TPOT ≤ {SLO_TARGET.tpot_s * 1e3:.0f} ms for {MIN_ATTAINMENT:.0%} of requests, "
            f"one `{best_name}` replica (one core) served up to **{per_replica:.0f} "
            f"requests/s** (static: {knees['static']['knee_rps']:.0f}, continuous: "
            f"{knees['continuous']['knee_rps']:.0f}). Planned at {1 - HEADROOM:.0%} of its "
            f"knee, {TARGET_RPS:.0f} requests/s needs ceil({TARGET_RPS:.0f} / "
            f"({per_replica:.0f} × {1 - HEADROOM:.1f})) = **{n} replicas**. Past the knee "
            "the queue grows for as long as the overload lasts, so p99 TTFT leaves the "
            "SLO long before tokens/s stops growing: plan on the knee, not the peak."
        )


def _streaming(results: Results, url: str, max_tokens: int) -> None:
    """Streamed answers over HTTP, one at a time: the first token against the last."""
    body = {
        "prompt": "The value of ",
        "max_tokens": max_tokens,
        "temperature": 0.8,
        "seed": 0,
        "stream": True,
    }
    firsts, totals = [], []
    with httpx.Client(base_url=url, timeout=60.0) as client:
        for _ in range(5):
            start = time.perf_counter()
            first = None
            with client.stream("POST", "/generate", json=body) as response:
                for line in response.iter_lines():
                    if line.startswith("data:") and first is None:
                        first = time.perf_counter() - start
            totals.append(time.perf_counter() - start)
            firsts.append(first if first is not None else totals[-1])
    ttft, total = statistics.median(firsts), statistics.median(totals)
    results.add("stream", {"ttft_s": ttft, "total_s": total, "tokens": max_tokens})
    results.text(
        f"## Streaming (m4)\n\nOver HTTP, a {max_tokens}-token answer streamed as "
        f"server-sent events: the first token after {ttft * 1e3:.0f} ms, the whole answer "
        f"after {total * 1e3:.0f} ms (medians of 5). Without streaming the reader would "
        f"wait {total / ttft:.0f}× longer to see anything."
    )


def run(results: Results, *, preset: str = "small") -> None:
    """Measure the engine in process and the service over HTTP."""
    if preset == "large":  # the kit's largest size: this lab's largest model
        preset = "small"
    if preset not in SWEEPS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(SWEEPS)}.")
    served = _model(results, preset)
    _engine(results, served, preset)
    _sweeps(results, served, preset)

"""Sections 1 and 2 of ``labkit run online_serving``: where a request's time goes, batching.

    batching_sections(results, load, {"off": server, "on": server}, score, rank, have)

Each server is loaded with /score and /rank; the figures come from the client
(requests/s, p50, p99) and from two ``/metrics`` scrapes around each run
(batch sizes, the time per stage), when the measured code has metrics (m5).
Without batching (m3) only the ``off`` rows are measured.
"""

from __future__ import annotations

import math
from typing import Any

from common.results import Results
from labs.online_serving import measure

RANK_CANDIDATES = 100


def batching_sections(
    results: Results,
    load: measure.Load,
    servers: dict[str, Any],
    score: list[Any],
    rank: list[Any],
    have: measure.Implemented,
) -> None:
    """Load each server (``off``, and ``on`` if present) and write sections 1 and 2."""
    figures: dict[str, dict[str, Any]] = {}
    for mode, server in servers.items():
        for name, path, payloads in (
            ("score", "/score", score),
            ("rank", "/rank", rank),
        ):
            before = measure.scrape(server.url)
            result = load(server.url, path, payloads)
            after = measure.scrape(server.url)
            figures[f"{name}_{mode}"] = {
                "rps": result.ok_rps,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "failed": result.failed,
                "mean_batch_size": measure.mean_batch_size(before, after),
                "server_mean_ms": measure.server_mean_ms(before, after, path),
                "stage_ms": measure.stage_budget(before, after),
            }
    results.add("batching", figures)
    if have.metrics and "score_on" in figures:
        _where_time_goes(results, figures)
    _off_and_on(results, figures)


def _where_time_goes(results: Results, figures: dict[str, dict[str, Any]]) -> None:
    results.text("## 1. Where a request's time goes")
    stages = list(figures["score_on"]["stage_ms"])
    rows = []
    for stage in [*stages, "server total"]:
        row: dict[str, Any] = {"stage (mean ms per request)": stage}
        for key, f in figures.items():
            name, mode = key.split("_")
            value = (
                f["server_mean_ms"] if stage == "server total" else f["stage_ms"][stage]
            )
            row[f"/{name} {mode}"] = value
        rows.append(row)
    results.table(rows)
    so, sn = figures["score_off"], figures["score_on"]
    ro, rn = figures["rank_off"], figures["rank_on"]
    biggest = max(so["stage_ms"], key=so["stage_ms"].get)
    results.text(
        "*parse* runs from the request's arrival at the app to its handler: reading "
        "the body, decoding and validating it, and waiting for the one event loop, "
        "which parses and answers every request in turn. *queue* is the wait for a "
        "batch (and for the batch before it to finish); *features* and *model* are "
        "the batch's store read and forward pass in worker threads, including the "
        "wait for a free worker (with batching off, the requests in flight queue for "
        "the one model thread); *serialise* orders the items and writes the JSON."
    )
    results.text(
        f"With batching off, a /score request spends most of its server time in "
        f"*{biggest}* ({so['stage_ms'][biggest]:.2f} ms of {so['server_mean_ms']:.2f} ms). "
        f"Each request pays for a whole feature read and a whole forward pass (the "
        f"model pads every call to a block of 256 rows) and two thread hand-offs. With "
        f"batching on, {sn['mean_batch_size']:.1f} requests share each call, so one "
        f"request's share of the model is ~"
        f"{sn['stage_ms']['model'] / sn['mean_batch_size']:.3f} ms, but it still *waits* "
        f"for the whole call ({sn['stage_ms']['model']:.2f} ms) and for the batch before "
        f"it (queue {sn['stage_ms']['queue']:.2f} ms). The client sees p50 "
        f"{sn['p50_ms']:.1f} ms against {sn['server_mean_ms']:.1f} ms inside the app: "
        "the rest is uvicorn's HTTP parsing and the socket. For /rank the feature read "
        f"of {RANK_CANDIDATES} rows dominates ({ro['stage_ms']['features']:.2f} ms off, "
        f"{rn['stage_ms']['features']:.2f} ms on for {rn['mean_batch_size']:.1f} "
        "requests): it grows with the rows, so batching saves only its fixed cost."
    )


def _off_and_on(results: Results, figures: dict[str, dict[str, Any]]) -> None:
    results.text("## 2. Batching off and on")
    table = []
    for key, f in figures.items():
        name, mode = key.split("_")
        table.append(
            {
                "route": f"/{name}"
                + (f" ({RANK_CANDIDATES})" if name == "rank" else ""),
                "batching": mode,
                "requests/s": f["rps"],
                "p50 ms": f["p50_ms"],
                "p99 ms": f["p99_ms"],
                "mean batch": f["mean_batch_size"],
                "failed": f["failed"],
            }
        )
    if all(math.isnan(row["mean batch"]) for row in table):  # no metrics (m5)
        table = [{k: v for k, v in row.items() if k != "mean batch"} for row in table]
    results.table(table)
    if "score_on" not in figures:
        return
    so, sn = figures["score_off"], figures["score_on"]
    ro, rn = figures["rank_off"], figures["rank_on"]
    gain_score = sn["rps"] / so["rps"] if so["rps"] else float("nan")
    gain_rank = rn["rps"] / ro["rps"] if ro["rps"] else float("nan")
    results.add("score_batching_speedup", gain_score)
    results.add("rank_batching_speedup", gain_rank)
    results.text(
        f"Batching multiplies /score throughput by {gain_score:.2f} (p99 "
        f"{so['p99_ms']:.1f} → {sn['p99_ms']:.1f} ms) and /rank by {gain_rank:.2f} "
        f"(p99 {ro['p99_ms']:.1f} → {rn['p99_ms']:.1f} ms). It pays where a call's fixed "
        "cost dominates (one row per request); it stops paying when the work grows "
        "with the rows (a /rank request already brings 100 rows, and its feature read "
        "is per row), and when the batch wait exceeds what the merged call saves."
    )

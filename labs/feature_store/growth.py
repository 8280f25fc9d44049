"""How the store's costs grow with the data: time and peak memory per step.

    python -m labs.feature_store.growth --preset small      # prints JSON
    measure_growth(["tiny", "small", "large"])              # one process each

``labkit bench feature_store`` calls :func:`measure_growth` for ``tiny`` up
to its preset and shows the table. Each preset runs in a fresh Python
process, from an empty store, so no preset inherits another's memory, and
the steps run in the order a pipeline runs them:

1. ``ingest``: validate and write the impressions (and the items table).
2. ``views``: compute every view's feature rows.
3. ``index build``: read each view's feature file and build its as-of index.
4. ``join``: the point-in-time join of every stored impression to every
   feature (the training set), the indexes already built.
5. ``materialise``: a full materialisation into SQLite.
6. ``online read``: 2,000 ``get_online_features`` calls of 100 users.

Time is wall clock (``perf_counter``). Memory is the process's peak resident
set size during the step: Linux keeps a high-water mark of it (``VmHWM``),
which writing ``5`` to ``/proc/self/clear_refs`` resets to the current size
before each step. It counts everything the process holds, Arrow, DuckDB and
SQLite buffers included, not only Python objects; ``rss at start`` is what
the process already held when the step began. Where the mark cannot be reset
(not Linux), ``getrusage``'s lifetime peak is reported and marked as such.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PRESETS = ("tiny", "small", "large")
READS, READ_BATCH = 2_000, 100
STEP_TIMEOUT_S = 3 * 3600  # a whole preset, in its own process


def _status_mb(field: str) -> float | None:
    """A ``VmRSS``/``VmHWM`` line of ``/proc/self/status``, in MB; None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS; False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _lifetime_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes / kB


def measure_step(name: str, fn: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    """Run ``fn`` once; its wall time and the process's peak RSS while it ran."""
    start_mb = _status_mb("VmRSS")
    resettable = _reset_peak()
    began = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - began
    peak = _status_mb("VmHWM") if resettable else None
    row = {
        "step": name,
        "seconds": seconds,
        "peak rss MB": peak if peak is not None else _lifetime_peak_mb(),
        "rss at start MB": start_mb,
        "peak is": "this step" if peak is not None else "process lifetime",
    }
    return row, out


def run_preset(preset: str, seed: int = 0) -> dict[str, Any]:
    """Every step on ``preset``, from an empty store in a temporary folder."""
    from common.shopstream import load
    from labs.feature_store.store import FeatureStore

    # Generated once and cached on disk, so loading it is not a step. Each
    # step that consumes an input pops it, so it is freed when the step ends.
    inputs: dict[str, Any] = {"dataset": load(preset, seed)}
    impressions = len(inputs["dataset"].impressions)
    # Each step resets the kernel's mark (getrusage's too), so the process's
    # peak is the largest of the load's and the steps' peaks.
    loaded_peak = _status_mb("VmHWM") or _lifetime_peak_mb()
    steps: list[dict[str, Any]] = []

    def step(name: str, fn: Callable[[], Any]) -> Any:
        row, out = measure_step(name, fn)
        steps.append(row)
        return out

    def ingest() -> Any:
        dataset = inputs.pop("dataset")
        store.ingest_items(dataset.items)
        return store.ingest(dataset.impressions)

    def join() -> tuple[int, float]:
        joined = store.get_historical_features(inputs.pop("entity_df"), features)
        return len(joined), float(joined[features].isna().to_numpy().mean())

    with tempfile.TemporaryDirectory(prefix=f"labkit-fs-growth-{preset}-") as tmp:
        store = FeatureStore(Path(tmp) / "store")
        try:
            report = step("ingest", ingest)
            rows = step("views", store.compute_views)
            features = store.feature_names()
            step("index build", lambda: [store.as_of_index(v) for v in store.views])
            inputs["entity_df"] = store.offline.read_impressions(
                ["user_id", "item_id", "event_timestamp", "clicked"]
            )
            join_rows, null_share = step("join", join)
            first, last = store.event_range()
            step("materialise", lambda: store.materialize(first, last))
            users = store.entity_ids("user_activity")
            picks = np.random.default_rng(seed).choice(users, (READS, READ_BATCH))
            reads = [batch.tolist() for batch in picks]
            user_features = store.feature_names("user_activity")
            step(
                "online read",
                lambda: [store.get_online_features(b, user_features) for b in reads],
            )
        finally:
            store.close()
    return {
        "preset": preset,
        "impressions": impressions,
        "stored_rows": report.written_rows,
        "feature_rows": sum(rows.values()),
        "join_rows": join_rows,
        "join_null_share": null_share,
        "online_reads": f"{READS:,} × {READ_BATCH}",
        "steps": steps,
        "process_peak_rss_mb": max([loaded_peak] + [s["peak rss MB"] for s in steps]),
    }


def measure_growth(presets: Sequence[str]) -> list[dict[str, Any]]:
    """:func:`run_preset` for each preset, each in a fresh Python process.

    Raises:
        RuntimeError: a preset's process failed; its last output lines say why.
    """
    out = []
    for preset in presets:
        with tempfile.TemporaryDirectory(prefix="labkit-fs-growth-") as tmp:
            result = Path(tmp) / "growth.json"
            done = subprocess.run(
                [sys.executable, "-m", __name__, "--preset", preset, "--out", result],
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT_S,
                env=os.environ.copy(),  # LABKIT_OVERLAY: a candidate's copy stays theirs
            )
            if done.returncode != 0:
                tail = "\n".join(done.stderr.strip().splitlines()[-15:])
                raise RuntimeError(
                    f"measuring growth on {preset!r} failed (exit {done.returncode}):\n"
                    f"{tail}"
                )
            out.append(json.loads(result.read_text()))
    return out


def growth_rows(measured: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One table row per (step, preset), with the growth over the previous preset."""
    rows = []
    by_step: dict[str, dict[str, Any]] = {}
    for preset in measured:
        for s in preset["steps"]:
            before = by_step.get(s["step"])
            rows.append(
                {
                    "step": s["step"],
                    "preset": preset["preset"],
                    "impressions": preset["impressions"],
                    "seconds": s["seconds"],
                    "× time vs previous": s["seconds"] / before["seconds"]
                    if before
                    else None,
                    "peak rss MB": s["peak rss MB"],
                    "rss at start MB": s["rss at start MB"],
                }
            )
            by_step[s["step"]] = s
    order = {name: i for i, name in enumerate(s["step"] for s in measured[0]["steps"])}
    return sorted(rows, key=lambda r: order[r["step"]])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=PRESETS, default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the JSON here, not stdout")
    args = parser.parse_args(argv)
    text = json.dumps(run_preset(args.preset, args.seed), indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

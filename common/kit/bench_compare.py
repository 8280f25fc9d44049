"""``labkit bench LAB --mine``: your copy and the reference, measured in one run.

A figure alone does not tell a candidate whether their batcher or join is
fast: the machine's load moves every number. So the bench runs on both
copies, alternating (reference then yours, then yours then reference, ...:
drift in the machine's state falls on both), on the same data, each in its
own process, and every numeric figure is shown as the median of each side
with the ratio yours / reference.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from common.kit.errors import KitError
from common.kit.manifest import Kit, Lab
from common.results import Results


def _flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for name, value in figures.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, key + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[key] = float(value)
    return flat


def bench_once(kit: Kit, lab: Lab, *, mine: bool, preset: str | None) -> dict[str, Any]:
    """One ``labkit bench --json`` in its own process; its figures."""
    args = [sys.executable, "-m", "common.kit.cli", "bench", lab.id, "--json"]
    args += ["--workspace", str(kit.workspace)]
    args += ["--mine"] if mine else []
    args += ["--preset", preset] if preset else []
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as pages:
        # The two sides' own pages go to a scratch folder; only the comparison
        # is written to results/.
        env = {**os.environ, "LABKIT_RESULTS": pages}
        proc = subprocess.run(
            args, cwd=kit.root, env=env, capture_output=True, text=True, check=False
        )
    side = "your copy" if mine else "the reference"
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise KitError(f"the bench of {side} failed:\n{tail}")
    try:
        return dict(json.loads(proc.stdout))
    except ValueError as exc:
        raise KitError(f"the bench of {side} printed no JSON figures: {exc}") from None


def compare_bench(
    kit: Kit,
    lab: Lab,
    *,
    preset: str | None = None,
    rounds: int = 1,
    on_side: Callable[[int, str], None] | None = None,
) -> Results:
    """Bench both copies ``rounds`` times each, alternating; the comparison page."""
    if rounds < 1:
        raise KitError(f"--rounds must be at least 1, got {rounds}.")
    runs: dict[str, list[dict[str, float]]] = {"reference": [], "yours": []}
    for number in range(rounds):
        order = ("reference", "yours") if number % 2 == 0 else ("yours", "reference")
        for side in order:
            if on_side is not None:
                on_side(number + 1, side)
            figures = bench_once(kit, lab, mine=side == "yours", preset=preset)
            runs[side].append(_flatten(figures))
    results = Results(lab.id, lab.title, kind="compare")
    rows = []
    names = [n for n in runs["reference"][0] if all(n in r for r in runs["yours"])]
    for name in names:
        ref = statistics.median(r[name] for r in runs["reference"])
        yours = statistics.median(r[name] for r in runs["yours"])
        ratio = yours / ref if ref else None
        results.add(name, {"yours": yours, "reference": ref, "ratio": ratio})
        rows.append({"figure": name, "yours": yours, "reference": ref, "ratio": ratio})
    results.text(
        f"Both copies benchmarked {rounds}× each in one run, alternating, on the same "
        "data; each figure is the median of its side. ratio = yours / reference "
        "(for a time, below 1 is faster; for a rate, above 1 is)."
    )
    results.table(rows, columns=["figure", "yours", "reference", "ratio"])
    results.write()
    return results

"""``labkit bench algorithms``: every function's fitted exponent, from one run.

    labkit bench algorithms --json                  # small preset, about 40 s
    labkit bench algorithms --preset tiny --json    # about 15 s

Times every case of ``cases.py`` at the preset's sizes (median of 5 samples
per size, each at least 4 ms of repeated calls, in this process) and
records, per function, the fitted log-log exponent beside the one its
complexity predicts over the same sizes, and for each baseline its time
over the lab function's at the largest common size. No ShopStream answers:
those are ``labkit run``'s.
"""

from __future__ import annotations

from typing import Any

from common.results import Results
from labs.algorithms.cases import CASES
from labs.algorithms.complexity import measure, time_at_sizes
from labs.algorithms.run import SCALE

REPEATS = 5


def bench(results: Results, *, preset: str = "small") -> None:
    """Fit every function's exponent at ``preset``'s sizes."""
    if preset not in SCALE:
        raise ValueError(f"preset must be one of {sorted(SCALE)}, got {preset!r}.")
    results.add("preset", preset)
    by_name = {case.name: case for case in CASES}
    rows: dict[str, dict[str, Any]] = {}
    for case in CASES:
        milestone = case.milestone
        if not results.needs(milestone, what=f"timing {case.name}"):
            continue
        rows[case.name] = measure(case, SCALE[preset], repeats=REPEATS)
    speedups = {}
    for name, row in rows.items():
        partner = by_name[name].versus
        if partner is None or partner not in rows:
            continue
        mine = time_at_sizes(by_name[partner], row["sizes"], repeats=REPEATS)
        speedups[f"{name}_over_{partner}"] = row["seconds"][-1] / mine[-1]
    results.add(
        "exponents", {name: round(row["exponent"], 3) for name, row in rows.items()}
    )
    results.add(
        "expected_exponents",
        {name: round(row["expected_exponent"], 3) for name, row in rows.items()},
    )
    results.add("largest_n", {name: row["largest_n"] for name, row in rows.items()})
    results.add("seconds_at_largest", {n: r["largest_s"] for n, r in rows.items()})
    results.add("speedups_at_largest", speedups)
    results.table(
        [
            {
                "function": name,
                "milestone": row["milestone"],
                "complexity": row["complexity"],
                "expected_exponent": round(row["expected_exponent"], 2),
                "fitted_exponent": round(row["exponent"], 2),
                "largest_n": row["largest_n"],
                "ms_at_largest": row["largest_s"] * 1e3,
            }
            for name, row in rows.items()
        ],
        title="Fitted exponents",
    )
    if speedups:
        results.table(
            [
                {"baseline over lab function": k, "time ratio": v}
                for k, v in speedups.items()
            ],
            title="Baselines at the largest common size",
        )

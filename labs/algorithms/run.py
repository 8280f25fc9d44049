"""``labkit run algorithms``: each pattern on ShopStream, and its complexity measured.

    labkit run algorithms                  # small preset, about a minute
    labkit run algorithms --preset tiny    # about 20 s

Writes ``results/algorithms/README.md``, one section per milestone: first the
ShopStream question the milestone answers (p99 ingestion delay, the
pipeline's order, the likeliest click chain, sessions, spelling fixes, the
feature budget, near-duplicate items), then every function of the milestone
timed at growing sizes, its log-log slope fitted beside the slope its
complexity predicts, and one plot, with the comparisons the brief asks
for: quickselect against a full sort, Dijkstra with a heap against without
one, LIS in n log n against n^2.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from common.results import Results, fmt
from labs.algorithms import answers, answers_dp_hashing
from labs.algorithms.cases import CASES
from labs.algorithms.catalogue import load_catalogue
from labs.algorithms.complexity import measure, time_at_sizes
from labs.algorithms.minhash import candidate_probability
from labs.algorithms.shop import load_shop

log = logging.getLogger(__name__)

SCALE = {"tiny": 1.0, "small": 4.0, "large": 16.0}  # timed work against tiny
SPELLING = {"tiny": 100, "small": 300, "large": 1_000}  # typo'd searches corrected
TITLES = {
    "m1": "Search and selection",
    "m2": "Graphs",
    "m3": "Tries and intervals",
    "m4": "Dynamic programming",
    "m5": "Hashing strings",
}


def run(results: Results, *, preset: str = "small") -> None:
    """Answer each milestone's ShopStream question and time every function."""
    if preset not in SCALE:
        raise ValueError(f"preset must be one of {sorted(SCALE)}, got {preset!r}.")
    results.add("preset", preset)
    shop, cat = load_shop(preset), load_catalogue(preset)
    results.text(
        f"ShopStream `{preset}`: {len(shop.impressions):,} clean impressions "
        f"({shop.dirty_rows:,} corrupted rows left out), {len(cat.titles):,} items, "
        f"{len(shop.request_intervals):,} active users. Timings: median of 3 "
        "samples per size, each sample at least 4 ms of repeated calls, in this "
        f"process; sizes scaled {SCALE[preset]:g}x from the tiny preset's."
    )
    sections = {"m1": _m1, "m2": _m2, "m3": _m3, "m4": _m4, "m5": _m5}
    fitted: dict[str, Any] = {}
    for milestone, answer in sections.items():
        if not results.needs(milestone, what=f"{milestone}: {TITLES[milestone]}"):
            continue
        results.text(f"## {milestone} — {TITLES[milestone]}")
        answer(results, shop, cat, preset)
        fitted.update(_complexity(results, milestone, SCALE[preset]))
    results.add("complexity", fitted)
    if fitted:
        results.table(
            [{"function": name, **_row(r)} for name, r in fitted.items()],
            title="Every function: fitted exponent against its complexity",
        )


# --- the ShopStream answers ----------------------------------------------------------
def _m1(results: Results, shop, cat, preset: str) -> None:
    delays = results.add("delays", answers.delay_percentiles(shop))
    hour = results.add("busiest_hour", answers.busiest_hour(shop))
    batch = results.add(
        "batch_search", answers.batch_size_search(len(shop.impressions))
    )
    results.text(
        f"**p99 ingestion delay by quickselect:** {delays['p99_ms']:,} ms over "
        f"{delays['n']:,} impressions (p50 {delays['p50_ms']:,} ms, p99.9 "
        f"{delays['p99_9_ms']:,} ms); numpy's nearest-rank percentiles agree: "
        f"{delays['agree']}. Only {delays['distinct']:,} distinct values: "
        "duplicates are the rule, which is why the partition is three-way.\n\n"
        f"**Busiest hour by two binary searches per hour:** "
        f"{hour['busiest_impressions']:,} impressions at {hour['busiest_utc_hour']}:00 "
        f"UTC against {hour['quietest_impressions']:,} in the quietest of "
        f"{hour['hours']} hours (equal to `numpy.searchsorted`: "
        f"{hour['agree_with_searchsorted']}).\n\n"
        f"**Binary search on the answer:** a numpy scorer costs "
        f"{batch['overhead_s'] * 1e6:.1f} µs per call plus "
        f"{batch['per_row_s'] * 1e9:.2f} ns per row (measured). To score "
        f"{batch['rows']:,} rows within 25% of the overhead-free time "
        f"({batch['budget_s'] * 1e3:.1f} ms) the smallest batch is "
        f"**{batch['smallest_batch']:,}** (closed form: "
        f"{batch['closed_form_batch']:,}), found with {batch['questions']} "
        f"questions where a scan could ask {batch['rows']:,}."
    )


def _m2(results: Results, shop, cat, preset: str) -> None:
    steps = results.add("pipeline", answers.pipeline())
    graph = results.add("coview", answers.coview(shop))
    people = results.add("accounts", answers.accounts(shop))
    hops = ", ".join(
        f"{h} hop{'s' * (h != '1')}: {n}" for h, n in graph["hops"].items()
    )
    results.text(
        "**The kit's pipeline in order (Kahn, smallest name first):** "
        + " → ".join(steps["order"])
        + ". With a feature computed from the model's evaluation, the error names "
        "the loop: " + " needs ".join(steps["feedback_cycle"]) + ".\n\n"
        f"**Co-view graph** ({graph['items_with_edges']:,} items, "
        f"{graph['edges']:,} directed edges from consecutive clicks in a session): "
        f"from the most-clicked item {graph['source']}, BFS reaches "
        f"{graph['reachable']:,} items ({hops}). The likeliest chain of clicks to "
        f"item {graph['chain_target']} is {' → '.join(map(str, graph['chain']))}, "
        f"probability {graph['chain_probability']:.2e}; Dijkstra without a heap "
        f"agrees: {graph['dense_agrees']}.\n\n"
        f"**Accounts merged by shared devices:** {people['accounts']:,} accounts "
        f"are {people['people']:,} people; {people['merged_accounts']:,} accounts "
        f"share a device chain, the largest person has {people['largest_person']}."
    )


def _m3(results: Results, shop, cat, preset: str) -> None:
    rows = results.add("autocomplete", answers.autocomplete(cat))
    live = results.add("sessions", answers.sessions(shop))
    results.table(
        [
            {
                "prefix": repr(r["prefix"]),
                "top completions (searches)": "; ".join(
                    f"{q} ({c})" for q, c in r["completions"]
                ),
                "equals brute force": r["equals_brute_force"],
            }
            for r in rows
        ],
        title="Autocomplete from the search log (one search per click)",
    )
    results.text(
        f"**Sessions:** {live['requests']:,} requests, each alive 30 minutes, merge "
        f"into {live['sessions']:,} sessions of {live['users']:,} users. At most "
        f"{live['peak_live']:,} were live at once (first at {live['peak_utc_hour']}:00 "
        "UTC), by one sweep over the sorted starts and ends."
    )
    with results.plot(
        "m3_live_sessions", "Live sessions at each hour (sweep line)"
    ) as ax:
        ax.plot(np.arange(len(live["live_by_hour"])), live["live_by_hour"], "-")
        ax.set_xlabel("hours since the first request")
        ax.set_ylabel("live sessions")


def _m4(results: Results, shop, cat, preset: str) -> None:
    spell = results.add(
        "spelling", answers_dp_hashing.spelling_fixes(cat, SPELLING[preset])
    )
    menu = answers_dp_hashing.features_within_budget()
    results.add("feature_budget", {f"budget_{r['budget_us']}us": r for r in menu})
    up = results.add("trading_up", answers_dp_hashing.trading_up(shop))
    intent = results.add("intent", answers_dp_hashing.intents(shop))
    example = spell["example"]
    results.text(
        f"**Spelling:** {spell['corrected_share']:.0%} of {spell['searches']} searches "
        "with one typo come back as intended after each unknown word is replaced "
        f"by the nearest of {spell['vocabulary']} known words. "
        f"`{example['typed']}` → `{example['corrected']}`:\n\n"
        f"```\n{spell['example_alignment']}\n```"
    )
    results.table(
        menu,
        title="Features within a latency budget: 0/1 knapsack against greedy by gain/cost",
    )
    shares = ", ".join(f"{s} {v:.0%}" for s, v in intent["share_of_requests"].items())
    clicks = ", ".join(f"{s} {v:.2f}" for s, v in intent["clicks_per_request"].items())
    results.text(
        f"**Trading up:** over {up['users']:,} users with 5+ clicks, the longest strictly "
        f"rising run of prices covers {up['mean_share_of_clicks']:.0%} of their clicks "
        f"on average; the longest is {up['longest']} of {up['longest_user_clicks']} "
        f"clicks (the O(n^2) DP agrees: {up['agrees_with_quadratic']}).\n\n"
        f"**Intent (Viterbi):** decoded requests are {shares}; clicks per request "
        f"by decoded state: {clicks}. The longest user's best path has probability "
        f"10^{intent['longest_log10_p']:.0f} over {intent['longest_requests']} "
        "requests; in plain floats it would be 0 beyond about 600 steps."
    )


def _m5(results: Results, shop, cat, preset: str) -> None:
    plate = results.add("boilerplate", answers_dp_hashing.boilerplate(cat))
    near = results.add("near_duplicates", answers_dp_hashing.near_duplicates(cat))
    results.text(
        f"**Repeated text (Rabin–Karp):** {plate['repeated_windows']:,} distinct "
        f"{plate['length']}-character windows occur in two or more of "
        f"{plate['descriptions']:,} descriptions. The most shared: "
        + "; ".join(
            f"`{r['text']}` ({r['descriptions']:,})" for r in plate["most_shared"]
        )
        + f". `find_all` finds `{plate['phrase']}` in {plate['descriptions_with_phrase']:,} "
        f"descriptions (Python's `in`: {plate['with_phrase_by_substring']:,})."
    )
    results.table(
        list(near["configs"].values()),
        title=(
            f"MinHash (128 functions) + LSH on {near['items']:,} descriptions: "
            f"{near['true_pairs']:,} pairs with Jaccard ≥ 0.5 among "
            f"{near['all_pairs']:,}"
        ),
        columns=[
            "bands",
            "rows",
            "threshold",
            "candidates",
            "share_of_all_pairs",
            "recall",
            "expected_recall",
            "relisted_recall",
            "precision",
        ],
    )
    results.text(
        "Recall is the share of the exact pairs (Jaccard ≥ 0.5 on word "
        "3-shingles, by sparse products) that LSH makes candidates; expected "
        "recall averages `1 - (1 - s^r)^b` over those pairs. Signatures estimate "
        f"their Jaccard with a mean absolute error of {near['estimate_mean_abs_error']:.3f}."
    )
    with results.plot(
        "m5_s_curve", "Probability a pair becomes a candidate, by Jaccard"
    ) as ax:
        s = np.linspace(0, 1, 101)
        for row in near["configs"].values():
            ax.plot(
                s,
                [candidate_probability(x, row["bands"], row["rows"]) for x in s],
                label=f"b={row['bands']}, r={row['rows']}",
            )
        ax.axvline(0.5, color="grey", linestyle=":", label="near-duplicate: J ≥ 0.5")
        ax.set_xlabel("Jaccard similarity")
        ax.set_ylabel("P(candidate)")
        ax.legend()


# --- complexity ----------------------------------------------------------------------
def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "complexity": r["complexity"],
        "n": r["n_means"],
        "sizes": f"{r['sizes'][0]:,}–{r['sizes'][-1]:,}",
        "expected_exponent": round(r["expected_exponent"], 2),
        "fitted_exponent": round(r["exponent"], 2),
        "ms_at_largest": r["largest_s"] * 1e3,
    }


def _complexity(results: Results, milestone: str, scale: float) -> dict[str, Any]:
    cases = [c for c in CASES if c.milestone == milestone]
    rows = {c.name: measure(c, scale) for c in cases}
    by_name = {c.name: c for c in CASES}
    for case in cases:
        if case.versus is None:
            continue
        rival = rows[case.name]
        mine = time_at_sizes(by_name[case.versus], rival["sizes"])
        rival["speedup_of"] = case.versus
        rival["speedups"] = [b / a for a, b in zip(mine, rival["seconds"], strict=True)]
        rival["speedup_at_largest"] = rival["speedups"][-1]
    results.table(
        [{"function": name, **_row(r)} for name, r in rows.items()],
        title=f"{milestone}: time against size, fitted log-log slope",
    )
    notes = [
        f"- `{name}` takes {fmt(r['speedup_at_largest'])}x the time of "
        f"`{r['speedup_of']}` at n = {r['largest_n']:,}"
        for name, r in rows.items()
        if "speedup_of" in r
    ]
    if notes:
        results.text("\n".join(notes))
    with results.plot(
        f"{milestone}_complexity", f"{milestone}: seconds per call against n (log-log)"
    ) as ax:
        for name, r in rows.items():
            style = "--" if "speedup_of" in r else "-"
            ax.loglog(
                r["sizes"],
                r["seconds"],
                style,
                marker="o",
                label=f"{name}: {r['exponent']:.2f} ({r['complexity']})",
            )
        ax.set_xlabel("n (see the table for what n counts)")
        ax.set_ylabel("seconds per call")
        ax.legend(fontsize=7)
    log.info("%s: timed %d functions", milestone, len(rows))
    return rows

"""The ShopStream questions of m4 (DP) and m5 (hashing), as numbers (given).

The companion of ``answers.py``: each function runs the lab's code on one
preset's data and returns plain numbers for ``run.py``, with the verdict of
an independent check where one is cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labs.algorithms import feature_budget, hmm, lis, minhash, rolling_hash, spelling
from labs.algorithms.catalogue import SELLERS, Catalogue
from labs.algorithms.shop import FEATURE_MENU, Shop

BUDGETS_US = (500, 1_000, 2_000)
# (bands, rows) over 128 functions; (4, 32) is (32, 4) with the two swapped
LSH_CONFIGS = ((32, 4), (16, 8), (8, 16), (4, 32))
NEAR_DUPLICATE = 0.5  # Jaccard of word 3-shingles that counts as a near-duplicate


# --- m4 ------------------------------------------------------------------------------
def spelling_fixes(cat: Catalogue, n: int) -> dict[str, Any]:
    """Correct ``n`` searches with one typo each against the search vocabulary."""
    typos = cat.typos(n, seed=0)
    fixed = [spelling.correct(typed, cat.vocabulary) for typed, _ in typos]
    right = sum(f == intended for f, (_, intended) in zip(fixed, typos, strict=True))
    typed, intended = typos[0]
    wrong_word, meant_word = next(
        (a, b) for a, b in zip(typed.split(), intended.split(), strict=True) if a != b
    )
    return {
        "searches": n,
        "vocabulary": len(cat.vocabulary),
        "corrected_share": right / n,
        "example": {"typed": typed, "corrected": fixed[0], "intended": intended},
        "example_alignment": spelling.render(
            spelling.alignment(wrong_word, meant_word)
        ),
    }


def features_within_budget() -> list[dict[str, Any]]:
    """The best feature set for each latency budget, against greedy by ratio."""
    names = [name for name, _, _ in FEATURE_MENU]
    costs = [cost for _, cost, _ in FEATURE_MENU]
    gains = [gain for _, _, gain in FEATURE_MENU]
    rows = []
    for budget in BUDGETS_US:
        best, chosen = feature_budget.knapsack(costs, gains, budget)
        greedy, _ = feature_budget.greedy_by_ratio(costs, gains, budget)
        rows.append(
            {
                "budget_us": budget,
                "best_gain": best,
                "greedy_gain": greedy,
                "greedy_shortfall": 1 - greedy / best,
                "cost_us": sum(costs[i] for i in chosen),
                "features": ", ".join(names[i] for i in chosen),
            }
        )
    return rows


def trading_up(shop: Shop) -> dict[str, Any]:
    """Longest strictly rising run of clicked prices per user (5+ clicks)."""
    users = {u: p for u, p in shop.click_prices.items() if len(p) >= 5}
    lengths = {u: len(lis.longest_increasing_subsequence(p)) for u, p in users.items()}
    shares = [lengths[u] / len(users[u]) for u in users]
    check = all(
        lis.lis_length_quadratic(users[u]) == lengths[u] for u in list(users)[:200]
    )
    top = max(lengths, key=lambda u: (lengths[u], -u))
    return {
        "users": len(users),
        "mean_share_of_clicks": float(np.mean(shares)),
        "longest": lengths[top],
        "longest_user_clicks": len(users[top]),
        "agrees_with_quadratic": check,
    }


def intents(shop: Shop) -> dict[str, Any]:
    """Decode every user's intent; clicks per request by decoded state."""
    model = hmm.INTENT_HMM
    state_requests = np.zeros(len(model.states))
    state_clicks = np.zeros(len(model.states))
    longest = max(shop.intent_observations.values(), key=len)
    for observed in shop.intent_observations.values():
        path, _ = hmm.viterbi(model, observed)
        for state, seen in zip(path, observed, strict=True):
            state_requests[state] += 1
            state_clicks[state] += seen
    _, log_p = hmm.viterbi(model, longest)
    return {
        "users": len(shop.intent_observations),
        "share_of_requests": dict(
            zip(
                model.states,
                (state_requests / state_requests.sum()).tolist(),
                strict=True,
            )
        ),
        "clicks_per_request": dict(
            zip(
                model.states,
                (state_clicks / np.maximum(state_requests, 1)).tolist(),
                strict=True,
            )
        ),
        "longest_requests": len(longest),
        "longest_log10_p": log_p / np.log(10),
    }


# --- m5 ------------------------------------------------------------------------------
def boilerplate(cat: Catalogue, length: int = 40) -> dict[str, Any]:
    """Windows of ``length`` characters shared by descriptions; the seller texts."""
    repeated = rolling_hash.repeated_substrings(cat.descriptions, length)
    top = sorted(repeated.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    phrase = SELLERS[0][:length]
    holding = sum(1 for d in cat.descriptions if rolling_hash.find_all(phrase, d))
    return {
        "descriptions": len(cat.descriptions),
        "length": length,
        "repeated_windows": len(repeated),
        "most_shared": [{"text": t, "descriptions": n} for t, n in top],
        "phrase": phrase,
        "descriptions_with_phrase": holding,
        "with_phrase_by_substring": sum(phrase in d for d in cat.descriptions),
    }


def near_duplicates(cat: Catalogue) -> dict[str, Any]:
    """LSH candidates and recall against exact Jaccard, per (bands, rows)."""
    sets = [minhash.shingle_ids(minhash.shingles(d)) for d in cat.descriptions]
    sig = minhash.signatures(sets, *minhash.hash_family(128, seed=0))
    truth = minhash.exact_similar_pairs(sets, NEAR_DUPLICATE)
    relisted = {(min(a, b), max(a, b)) for a, b in cat.relisted_from.items()}
    n = len(sets)
    rows = []
    for bands, rows_per_band in LSH_CONFIGS:
        found = minhash.lsh_candidates(sig, bands, rows_per_band)
        hits = sum(1 for pair in truth if pair in found)
        rows.append(
            {
                "bands": bands,
                "rows": rows_per_band,
                "threshold": minhash.lsh_threshold(bands, rows_per_band),
                "candidates": len(found),
                "share_of_all_pairs": len(found) / (n * (n - 1) / 2),
                "recall": hits / max(1, len(truth)),
                "expected_recall": float(
                    np.mean(
                        [
                            minhash.candidate_probability(s, bands, rows_per_band)
                            for s in truth.values()
                        ]
                    )
                ),
                "relisted_recall": sum(p in found for p in relisted)
                / max(1, len(relisted)),
                "precision": hits / max(1, len(found)),
            }
        )
    estimate = [float(np.mean(sig[i] == sig[j])) for i, j in truth]
    return {
        "items": n,
        "all_pairs": n * (n - 1) // 2,
        "true_pairs": len(truth),
        "relisted_pairs": len(relisted),
        "estimate_mean_abs_error": float(
            np.mean(np.abs(np.array(estimate) - np.array(list(truth.values()))))
        ),
        "configs": {f"b{r['bands']}_r{r['rows']}": r for r in rows},
    }

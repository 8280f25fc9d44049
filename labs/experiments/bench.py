"""``labkit bench experiments``: the lab's key figures, and what vectorising buys.

    labkit bench experiments --json          # figures only, on stdout
    labkit bench experiments --preset tiny   # a quicker ShopStream part

Statistical figures (each a seeded simulation, with its Monte-Carlo SE):
achieved power at the formula's sample size, the A/A false-positive rate at
10 looks with and without a sequential correction, bootstrap coverage, and
the ShopStream test's SRM, lift, design effect and A/A split error rates.

Speed figures (medians of repeated calls in this run, and their ratios):
one vectorised z-test call over a million experiments against scipy's
``chi2_contingency`` one table at a time, our BCa interval against
``scipy.stats.bootstrap``, and the ShopStream analysis end to end.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import stats

from common.results import Results
from common.shopstream import load
from common.timing import summarize, time_calls
from labs.experiments.ab_log import ABDesign, build_ab_log
from labs.experiments.ab_metrics import aa_false_positive_rates, user_table
from labs.experiments.ab_report import analyse_ab
from labs.experiments.bootstrap import bootstrap_ci, bootstrap_coverage
from labs.experiments.peeking import (
    crossing_rate,
    sequential_boundaries,
    simulate_z_paths,
)
from labs.experiments.power import sample_size_two_proportions, simulate_power
from labs.experiments.significance import two_proportion_ztest

log = logging.getLogger(__name__)

P_CONTROL = 0.05  # a ShopStream-like CTR
RELATIVE_MDE = 0.05  # +5% relative lift
N_EXPERIMENTS = 1_000_000  # z-tests in one vectorised call
N_SCIPY_CALLS = 300  # scipy calls, one 2×2 table each
REPEATS = 5  # timed repeats per figure; medians reported


def bench(results: Results, *, preset: str = "small") -> None:
    """Record the key figures and the speed comparisons."""
    _statistics(results)
    _speed(results)
    _shopstream(results, preset)


def _statistics(results: Results) -> None:
    log.info("power, peeking, coverage")
    mde = P_CONTROL * RELATIVE_MDE
    n = sample_size_two_proportions(P_CONTROL, mde)
    achieved = simulate_power(P_CONTROL, mde, n, n_sims=20_000, seed=1)
    results.add("sample_size_per_arm", n)
    results.add("target_power", 0.8)
    results.add("achieved_power", achieved.rate)
    results.add("achieved_power_se", achieved.se)

    z = simulate_z_paths(P_CONTROL, P_CONTROL, 20_000, 10, n_sims=20_000, seed=10)
    for kind in ("naive", "pocock", "obrien_fleming"):
        rate = crossing_rate(z, sequential_boundaries(10, kind=kind))
        results.add(f"fpr_10_looks_{kind}", rate.rate)
    results.add("fpr_10_looks_se_at_alpha", float(np.sqrt(0.05 * 0.95 / 20_000)))

    def lognormal(rng, size):
        return rng.lognormal(0.0, 1.0, size=size)

    for method in ("percentile", "bca"):
        c = bootstrap_coverage(
            lognormal,
            float(np.exp(0.5)),
            np.mean,
            n=30,
            method=method,
            n_trials=1_000,
            n_resamples=1_000,
            seed=3,
        )
        results.add(f"coverage_lognormal_mean_n30_{method}", c.coverage.rate)
    results.add("coverage_se_at_90pct", float(np.sqrt(0.9 * 0.1 / 1_000)))


def _speed(results: Results) -> None:
    log.info("speed: vectorised z-test and BCa against scipy")
    rng = np.random.default_rng(0)
    n = 10_000
    clicks_c = rng.binomial(n, P_CONTROL, N_EXPERIMENTS)
    clicks_t = rng.binomial(n, P_CONTROL, N_EXPERIMENTS)
    ours = summarize(
        time_calls(
            lambda: two_proportion_ztest(clicks_c, n, clicks_t, n), REPEATS, warmup=1
        ),
        unit="s",
    )
    tables = [
        [[clicks_c[i], n - clicks_c[i]], [clicks_t[i], n - clicks_t[i]]]
        for i in range(N_SCIPY_CALLS)
    ]

    def scipy_loop() -> None:
        for table in tables:
            stats.chi2_contingency(table, correction=False)

    theirs = summarize(time_calls(scipy_loop, REPEATS, warmup=1), unit="s")
    ours_us = ours["p50"] / N_EXPERIMENTS * 1e6
    theirs_us = theirs["p50"] / N_SCIPY_CALLS * 1e6
    results.add("ztest_vectorised_us_per_test_p50", ours_us)
    results.add("ztest_scipy_per_table_us_p50", theirs_us)
    results.add("ztest_speedup_vectorised_over_scipy_loop", theirs_us / ours_us)

    x = rng.lognormal(0.0, 1.0, size=500)
    ours_bca = summarize(
        time_calls(
            lambda: bootstrap_ci(x, np.mean, method="bca", n_resamples=9_999, seed=1),
            REPEATS,
            warmup=1,
        ),
        unit="s",
    )
    scipy_bca = summarize(
        time_calls(
            lambda: stats.bootstrap(
                (x,), np.mean, method="BCa", n_resamples=9_999, rng=1
            ),
            REPEATS,
            warmup=1,
        ),
        unit="s",
    )
    results.add("bca_n500_b9999_ours_s_p50", ours_bca["p50"])
    results.add("bca_n500_b9999_scipy_s_p50", scipy_bca["p50"])
    results.add("bca_time_ratio_scipy_over_ours", scipy_bca["p50"] / ours_bca["p50"])


def _shopstream(results: Results, preset: str) -> None:
    log.info("ShopStream A/B test (%s)", preset)
    ds = load(preset)
    design = ABDesign(lift=0.06, novelty=0.30, novelty_half_life_days=1.0)
    build = summarize(time_calls(lambda: build_ab_log(ds, design), 3), unit="s")
    ab = build_ab_log(ds, design)
    analyse = summarize(time_calls(lambda: analyse_ab(ab.impressions), 3), unit="s")
    report = analyse_ab(ab.impressions)
    results.add("ab_build_log_s_p50", build["p50"])
    results.add("ab_analyse_s_p50", analyse["p50"])
    results.add("ab_impressions", len(ab.impressions))
    results.add("ab_relative_lift", report.ctr.relative_effect)
    results.add(
        "ab_relative_ci", [report.ctr.relative_ci_low, report.ctr.relative_ci_high]
    )
    results.add("ab_true_lift", ab.true_lift)
    results.add("ab_decision", report.decision)
    results.add("ab_novelty_flagged", report.novelty.flagged)
    results.add("ab_design_effect", report.ctr.design_effect)
    results.add("ab_srm_p_healthy", report.srm.p_value)
    buggy = build_ab_log(
        ds, ABDesign(lift=0.06, novelty=0.30, lost_treatment_share=0.10)
    )
    buggy_report = analyse_ab(buggy.impressions)
    results.add("ab_srm_p_logging_bug", buggy_report.srm.p_value)
    results.add("ab_decision_logging_bug", buggy_report.decision)
    aa = user_table(build_ab_log(ds, ABDesign(lift=0.0)).impressions)
    delta, naive = aa_false_positive_rates(aa, n_splits=200, seed=0)
    results.add("aa_split_fpr_delta", delta.rate)
    results.add("aa_split_fpr_naive_per_impression", naive.rate)
    results.text(
        f"A/B analysis of {len(ab.impressions):,} impressions: build {build['p50']:.2f} s, "
        f"analyse {analyse['p50']:.2f} s (medians of 3)."
    )

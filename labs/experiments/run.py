"""``labkit run experiments``: the A/B-testing results page.

    labkit run experiments               # preset small: ~8k users, 1.3M impressions
    labkit run experiments --preset tiny

Four sections, each answering interview questions from measured figures:
sample size and power (with the design effect the ShopStream test measures),
peeking (false positives by number of looks, naive and corrected), bootstrap
coverage, and the ShopStream A/B test itself (three scenarios, SRM, the
effect by day, and the decision; written by ``run_ab.py``). Every simulation
is seeded.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from common.results import Results
from common.shopstream import load
from labs.experiments.ab_log import ABDesign, build_ab_log
from labs.experiments.ab_report import ABReport, analyse_ab
from labs.experiments.bootstrap import bootstrap_coverage
from labs.experiments.distributions import normal_ppf
from labs.experiments.peeking import (
    crossing_rate,
    expected_sample_fraction,
    independent_looks_formula,
    sequential_boundaries,
    simulate_z_paths,
)
from labs.experiments.power import (
    minimum_detectable_effect,
    power_two_proportions,
    sample_size_two_proportions,
    simulate_power,
)
from labs.experiments.run_ab import ab_section

log = logging.getLogger(__name__)

ALPHA = 0.05  # every test's level
POWER = 0.8  # the target power of every sample size
RELATIVE_MDES = (0.02, 0.05, 0.10)  # lifts a ranking team cares about
LOOKS = (1, 2, 3, 5, 10, 20)  # how often the PM checks the dashboard
PEEK_SIMS = 20_000  # A/A tests per number of looks: SE 0.15 points at 5%
POWER_SIMS = 20_000  # experiments per simulated power: SE 0.28 points at 80%
COVERAGE_TRIALS = 1_000  # samples per coverage figure: SE 0.7 points at 95%
SCENARIOS = {  # the ShopStream experiments; v2 is the new ranker
    "v2": ABDesign(lift=0.06, novelty=0.30, novelty_half_life_days=1.0),
    "A/A": ABDesign(lift=0.0),
    "v2 + logging bug": ABDesign(
        lift=0.06, novelty=0.30, novelty_half_life_days=1.0, lost_treatment_share=0.10
    ),
}


def run(results: Results, *, preset: str = "small") -> None:
    """Measure everything on ShopStream ``preset`` and write the page."""
    ds = load(preset)
    log.info("analysing the ShopStream A/B scenarios (%s)", preset)
    logs = {name: build_ab_log(ds, design) for name, design in SCENARIOS.items()}
    reports = {
        name: analyse_ab(ab.impressions, alpha=ALPHA) for name, ab in logs.items()
    }
    main = reports["v2"]
    baseline = results.add("baseline_ctr", main.ctr.control.ratio)
    deff = results.add("design_effect", main.ctr.design_effect)
    impressions_per_user = main.ctr.control.denominator / main.ctr.control.n_units

    results.text(
        f"ShopStream preset `{preset}`: {sum(main.users):,} users in the test, "
        f"control CTR {baseline:.3%}, {impressions_per_user:.0f} impressions per user."
    )
    _power_section(results, baseline, deff, impressions_per_user, main)
    _peeking_section(results, baseline)
    _coverage_section(results)
    ab_section(results, logs, reports, alpha=ALPHA)


def _power_section(
    results: Results,
    baseline: float,
    deff: float,
    impressions_per_user: float,
    main: ABReport,
) -> None:
    log.info("power and sample size")
    rows = []
    for rel in RELATIVE_MDES:
        mde = baseline * rel
        n = sample_size_two_proportions(baseline, mde, alpha=ALPHA, power=POWER)
        achieved = simulate_power(baseline, mde, n, n_sims=POWER_SIMS, seed=1)
        users = n * deff / impressions_per_user
        key = f"rel{round(rel * 100)}pct"
        results.add(f"sample_size_impressions_{key}", n)
        results.add(f"achieved_power_{key}", achieved.rate)
        results.add(f"users_per_arm_{key}", round(users))
        rows.append(
            {
                "relative MDE": f"{rel:.0%}",
                "absolute MDE": mde,
                "impressions per arm (iid formula)": n,
                "simulated power": f"{achieved.rate:.3f} ± {achieved.se:.3f}",
                "users per arm (× design effect)": round(users),
            }
        )
    results.table(rows, title="Sample size for 80% power at alpha 0.05 (two-sided)")
    effective = main.ctr.control.denominator / deff
    mde_now = minimum_detectable_effect(
        baseline, int(effective), alpha=ALPHA, power=POWER
    )
    results.add("relative_mde_this_test", mde_now / baseline)
    results.text(
        f"The formula counts independent impressions. Clicks of one user are "
        f"correlated, and the A/B analysis below measures a design effect of "
        f"{deff:.1f}: each arm's {main.ctr.control.denominator:,.0f} impressions "
        f"carry the information of {effective:,.0f} independent ones, so this test "
        f"detects a relative lift of {mde_now / baseline:.1%} with 80% power. "
        f"Simulated power at the formula's n lands within "
        f"{max(abs(results.figures[f'achieved_power_rel{round(r * 100)}pct'] - POWER) for r in RELATIVE_MDES):.3f} "
        "of the target."
    )
    n_grid = np.unique(np.logspace(3, 6.5, 40).astype(int))
    with results.plot("power_curve", "Power against impressions per arm") as ax:
        for rel in RELATIVE_MDES:
            mde = baseline * rel
            (line,) = ax.plot(
                n_grid,
                power_two_proportions(baseline, mde, n_grid),
                label=f"+{rel:.0%}",
            )
            dots = n_grid[::6]
            sims = [
                simulate_power(baseline, mde, int(k), n_sims=4_000, seed=2).rate
                for k in dots
            ]
            ax.plot(dots, sims, "o", color=line.get_color(), ms=4)
        ax.axhline(POWER, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("impressions per arm")
        ax.set_ylabel("power (line: formula, dots: 4,000 simulations)")
        ax.legend(title="relative MDE")


def _peeking_section(results: Results, baseline: float) -> None:
    log.info("peeking")
    rows = []
    for k in LOOKS:
        z = simulate_z_paths(baseline, baseline, 20_000, k, n_sims=PEEK_SIMS, seed=k)
        row = {
            "looks": k,
            "1 − 0.95^K (independent looks)": independent_looks_formula(ALPHA, k),
        }
        for kind in ("naive", "pocock", "obrien_fleming"):
            rate = crossing_rate(z, sequential_boundaries(k, alpha=ALPHA, kind=kind))
            results.add(f"peeking_fpr_{kind}_k{k}", rate.rate)
            row[f"{kind} FPR"] = f"{rate.rate:.4f} ± {rate.se:.4f}"
        rows.append(row)
    results.table(
        rows,
        title=f"A/A false-positive rate when stopping at the first significant look ({PEEK_SIMS:,} A/A tests each)",
    )
    with results.plot("peeking_fpr", "False-positive rate by number of looks") as ax:
        for kind, label in (
            ("naive", "stop at first p < 0.05"),
            ("pocock", "Pocock"),
            ("obrien_fleming", "O'Brien-Fleming"),
        ):
            ax.plot(
                LOOKS,
                [results.figures[f"peeking_fpr_{kind}_k{k}"] for k in LOOKS],
                "o-",
                label=label,
            )
        ax.plot(
            LOOKS,
            [independent_looks_formula(ALPHA, k) for k in LOOKS],
            ":",
            color="grey",
            label="1 − 0.95^K",
        )
        ax.axhline(ALPHA, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(LOOKS, [str(k) for k in LOOKS])
        ax.set_xlabel("looks at the data")
        ax.set_ylabel("false-positive rate")
        ax.legend()

    # What the correction costs: power and users at the fixed-horizon n, 5 looks.
    mde = baseline * 0.05
    n = sample_size_two_proportions(baseline, mde)
    z = simulate_z_paths(baseline, baseline + mde, n, 5, n_sims=10_000, seed=99)
    fixed = crossing_rate(z[:, -1:], sequential_boundaries(1, alpha=ALPHA))
    cost = [{"rule": "fixed horizon (1 look)", "power": fixed.rate, "users used": 1.0}]
    for kind in ("pocock", "obrien_fleming"):
        b = sequential_boundaries(5, alpha=ALPHA, kind=kind)
        cost.append(
            {
                "rule": f"{kind}, 5 looks",
                "power": crossing_rate(z, b).rate,
                "users used": expected_sample_fraction(z, b),
            }
        )
        results.add(f"power_{kind}_k5", cost[-1]["power"])
        results.add(f"users_used_{kind}_k5", cost[-1]["users used"])
    results.add("power_fixed", fixed.rate)
    results.table(
        cost,
        title="Cost of a sequential rule under a true +5% lift (share of planned users used before stopping)",
    )
    k = LOOKS[-2]
    results.text(
        f"With {k} looks the naive rule's false-positive rate is "
        f"{results.figures[f'peeking_fpr_naive_k{k}']:.1%}, not {ALPHA:.0%}; the "
        f"independence formula would claim {independent_looks_formula(ALPHA, k):.1%}. "
        f"O'Brien-Fleming holds {results.figures[f'peeking_fpr_obrien_fleming_k{k}']:.1%} "
        f"and, with 5 looks, keeps {results.figures['power_obrien_fleming_k5']:.1%} power "
        f"(fixed horizon {fixed.rate:.1%}) while using "
        f"{results.figures['users_used_obrien_fleming_k5']:.0%} of the users on average."
    )


def _coverage_section(results: Results) -> None:
    log.info("bootstrap coverage")
    p90 = functools.partial(np.quantile, q=0.9)
    cases = (
        ("mean", np.mean, float(np.exp(0.5))),
        ("p90", p90, float(np.exp(normal_ppf(0.9)))),  # lognormal quantile
    )

    def lognormal(rng, size):
        return rng.lognormal(0.0, 1.0, size=size)

    rows = []
    for name, statistic, truth in cases:
        for n in (20, 100):
            for method in ("percentile", "bca"):
                c = bootstrap_coverage(
                    lognormal,
                    truth,
                    statistic,
                    n=n,
                    method=method,
                    n_trials=COVERAGE_TRIALS,
                    n_resamples=1_000,
                    seed=n,
                )
                results.add(f"coverage_{name}_n{n}_{method}", c.coverage.rate)
                rows.append(
                    {
                        "statistic": name,
                        "n": n,
                        "method": method,
                        "coverage": f"{c.coverage.rate:.3f} ± {c.coverage.se:.3f}",
                        "truth below interval": c.miss_low,
                        "truth above interval": c.miss_high,
                        "mean width": c.mean_width,
                    }
                )
    results.table(
        rows,
        title=f"95% bootstrap intervals on lognormal(0, 1) data: coverage over {COVERAGE_TRIALS:,} samples",
    )
    fig = results.figures
    worst = min(
        rows, key=lambda r: fig[f"coverage_{r['statistic']}_n{r['n']}_{r['method']}"]
    )
    names = [name for name, _, _ in cases]
    more_data = np.mean(
        [
            fig[f"coverage_{s}_n100_{m}"] - fig[f"coverage_{s}_n20_{m}"]
            for s in names
            for m in ("percentile", "bca")
        ]
    )
    bca_gain = np.mean(
        [
            fig[f"coverage_{s}_n{n}_bca"] - fig[f"coverage_{s}_n{n}_percentile"]
            for s in names
            for n in (20, 100)
        ]
    )
    results.add("coverage_gain_n20_to_n100", float(more_data))
    results.add("coverage_gain_bca_over_percentile", float(bca_gain))
    one_sided = np.mean(
        [r["truth above interval"] > 2 * r["truth below interval"] for r in rows]
    )
    results.text(
        f"Nominal 95% is not achieved coverage: the worst case is the {worst['method']} "
        f"interval of the {worst['statistic']} at n = {worst['n']}, covering {worst['coverage']}. "
        f"In {one_sided:.0%} of the rows the truth lies above the interval more than twice as often "
        f"as below (right-skewed data). Going from n = 20 to 100 adds {more_data * 100:+.1f} points of coverage on "
        f"average; BCa instead of percentile adds {bca_gain * 100:+.1f}."
    )

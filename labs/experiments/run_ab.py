"""The ShopStream A/B section of ``labkit run experiments``: the test itself.

    ab_section(results, logs, reports, alpha=0.05)

For each scenario (v2, an A/A test, v2 with a logging bug) the users, SRM,
lift with its interval, and the decision with its reasons; then the
variance question (delta method over users against a bootstrap and the
per-impression formula, with A/A false-positive rates) and v2's lift by day
against the simulated truth (novelty). ``run.py`` builds the scenarios and
holds the simulation sections.
"""

from __future__ import annotations

import logging

from common.results import Results
from labs.experiments.ab_log import ABLog
from labs.experiments.ab_metrics import (
    aa_false_positive_rates,
    bootstrap_ctr_difference,
    user_table,
)
from labs.experiments.ab_report import ABReport

log = logging.getLogger(__name__)


def ab_section(
    results: Results,
    logs: dict[str, ABLog],
    reports: dict[str, ABReport],
    *,
    alpha: float,
) -> None:
    """Write the A/B section from each scenario's log and its analysis at ``alpha``."""
    log.info("A/B summary")
    rows = []
    for name, report in reports.items():
        ab = logs[name]
        slug = name.replace(" + ", "_").replace("/", "").replace(" ", "_").lower()
        results.add(f"ab_{slug}_decision", report.decision)
        results.add(f"ab_{slug}_relative_lift", report.ctr.relative_effect)
        results.add(f"ab_{slug}_srm_p", report.srm.p_value)
        rows.append(
            {
                "scenario": name,
                "users (c / t)": f"{report.users[0]:,} / {report.users[1]:,}",
                "SRM p": report.srm.p_value,
                "CTR control": report.ctr.control.ratio,
                "CTR treatment": report.ctr.treatment.ratio,
                "relative lift": f"{report.ctr.relative_effect:+.2%}",
                "95% CI": f"{report.ctr.relative_ci_low:+.2%} to {report.ctr.relative_ci_high:+.2%}",
                "p": report.ctr.p_value,
                "true lift": f"{ab.true_lift:+.2%}",
                "decision": report.decision,
            }
        )
    results.table(
        rows, title="ShopStream A/B test: three scenarios (user-level delta method)"
    )
    for name, report in reports.items():
        results.text(f"**{name}** → **{report.decision}**: " + " ".join(report.reasons))

    main, ab = reports["v2"], logs["v2"]
    users = user_table(logs["A/A"].impressions)
    delta_fpr, naive_fpr = aa_false_positive_rates(
        users, n_splits=300, alpha=alpha, seed=0
    )
    results.add("aa_split_fpr_delta", delta_fpr.rate)
    results.add("aa_split_fpr_naive", naive_fpr.rate)
    boot = bootstrap_ctr_difference(
        user_table(ab.impressions), n_resamples=2_000, seed=0
    )
    results.table(
        [
            {
                "method": "delta method over users",
                "SE": main.ctr.se,
                "95% CI of CTR difference": f"{main.ctr.ci_low:.5f} to {main.ctr.ci_high:.5f}",
                "A/A false-positive rate": f"{delta_fpr.rate:.3f} ± {delta_fpr.se:.3f}",
            },
            {
                "method": "bootstrap over users",
                "SE": None,
                "95% CI of CTR difference": f"{boot.low:.5f} to {boot.high:.5f}",
                "A/A false-positive rate": None,
            },
            {
                "method": "per impression (wrong unit)",
                "SE": main.ctr.naive_se,
                "95% CI of CTR difference": None,
                "A/A false-positive rate": f"{naive_fpr.rate:.3f} ± {naive_fpr.se:.3f}",
            },
        ],
        title="Randomised by user, measured per impression: which variance? (300 random A/A splits)",
    )
    results.text(
        f"Treating impressions as independent understates the variance {main.ctr.design_effect:.1f}-fold: "
        f"in A/A splits of the same users it calls {naive_fpr.rate:.0%} of them significant, "
        f"against {delta_fpr.rate:.1%} for the user-level delta method."
    )
    by_day = main.by_day
    results.add("novelty_first_day_lift", main.novelty.first_day_lift)
    results.add("novelty_last_day_lift", main.novelty.last_day_lift)
    with results.plot(
        "effect_by_day",
        "v2's relative CTR lift by day (95% CI) and the simulated truth",
    ) as ax:
        days = by_day["day"].to_numpy() + 1
        err = [
            by_day["relative_effect"] - by_day["relative_ci_low"],
            by_day["relative_ci_high"] - by_day["relative_effect"],
        ]
        ax.errorbar(
            days,
            by_day["relative_effect"],
            yerr=err,
            fmt="o",
            capsize=3,
            label="measured",
        )
        ax.plot(
            days,
            [ab.true_lift_by_day[d] for d in by_day["day"]],
            "--",
            color="grey",
            label="true (hidden p_click)",
        )
        ax.axhline(
            main.ctr.relative_effect, color="C1", lw=0.8, label="whole-test estimate"
        )
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xlabel("day of the test")
        ax.set_ylabel("relative lift in CTR")
        ax.legend()

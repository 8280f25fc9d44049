"""Lab 9, experiments: A/B testing from the formulas, checked against scipy.

- m1 ``significance``: the two-proportion z-test and Welch's t-test.
- m2 ``power``: power, sample size and MDE; achieved power by simulation.
- m3 ``peeking``: repeated looks at A/A tests; Pocock and O'Brien-Fleming rules.
- m4 ``bootstrap``: percentile and BCa intervals; coverage by simulation.
- m5 ``ab_log`` (given), ``ab_metrics``, ``ab_report``: a ShopStream A/B test
  analysed at the user level, with SRM and novelty checks and a decision.

``labkit run experiments`` writes the results page; ``labkit bench experiments``
the key figures.
"""

from labs.experiments.ab_log import (
    ARMS,
    CONTROL,
    TREATMENT,
    ABDesign,
    ABLog,
    assign_arms,
    build_ab_log,
    hash_unit,
)
from labs.experiments.ab_metrics import (
    CTRComparison,
    RatioEstimate,
    aa_false_positive_rates,
    bootstrap_ctr_difference,
    compare_ctr,
    ratio_estimate,
    user_table,
)
from labs.experiments.ab_report import (
    ABReport,
    NoveltyCheck,
    SRMResult,
    analyse_ab,
    effect_by_day,
    novelty_check,
    srm_test,
)
from labs.experiments.bootstrap import (
    Coverage,
    Interval,
    bca_interval,
    bootstrap_ci,
    bootstrap_coverage,
    bootstrap_distribution,
    jackknife,
    percentile_interval,
)
from labs.experiments.montecarlo import MonteCarloRate, rate_of
from labs.experiments.peeking import (
    boundary_shape,
    crossing_rate,
    expected_sample_fraction,
    first_crossing,
    independent_looks_formula,
    look_sizes,
    sequential_boundaries,
    simulate_z_paths,
)
from labs.experiments.power import (
    minimum_detectable_effect,
    power_means,
    power_two_proportions,
    sample_size_means,
    sample_size_two_proportions,
    simulate_power,
)
from labs.experiments.significance import (
    SignificanceResult,
    confidence_interval,
    normal_p_value,
    two_proportion_ztest,
    welch_ttest,
)

__all__ = [
    "ARMS",
    "CONTROL",
    "TREATMENT",
    "ABDesign",
    "ABLog",
    "ABReport",
    "CTRComparison",
    "Coverage",
    "Interval",
    "MonteCarloRate",
    "NoveltyCheck",
    "RatioEstimate",
    "SRMResult",
    "SignificanceResult",
    "aa_false_positive_rates",
    "analyse_ab",
    "assign_arms",
    "bca_interval",
    "bootstrap_ci",
    "bootstrap_coverage",
    "bootstrap_ctr_difference",
    "bootstrap_distribution",
    "boundary_shape",
    "build_ab_log",
    "compare_ctr",
    "confidence_interval",
    "crossing_rate",
    "effect_by_day",
    "expected_sample_fraction",
    "first_crossing",
    "hash_unit",
    "independent_looks_formula",
    "jackknife",
    "look_sizes",
    "minimum_detectable_effect",
    "normal_p_value",
    "novelty_check",
    "percentile_interval",
    "power_means",
    "power_two_proportions",
    "rate_of",
    "ratio_estimate",
    "sample_size_means",
    "sample_size_two_proportions",
    "sequential_boundaries",
    "simulate_power",
    "simulate_z_paths",
    "srm_test",
    "two_proportion_ztest",
    "user_table",
    "welch_ttest",
]

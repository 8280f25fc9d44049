"""Generated statistics problems for ``labkit interview stats``.

    problems = generate(seed=7)       # the same seed gives the same numbers

Each problem draws its numbers from the seed and computes its answer with the
reference code of the ``experiments`` lab (imported inside the function, as
harness code must), so a problem is graded by the code the candidate builds in
that lab. Where the lab has no function for the answer (Bayes' rule, the
coupon collector) the arithmetic is written out here and the comment says so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from common.interview.posing import Posed, generated, plain_number
from common.interview.question import Tolerance

Problem = Callable[[np.random.Generator], Posed]
REL = Tolerance(relative=0.05)  # a normal table or rounded z is close enough
FINE = Tolerance(relative=0.02)


def ab_sample_size(rng: np.random.Generator) -> Posed:
    from labs.experiments import sample_size_two_proportions

    base = float(rng.choice([0.02, 0.03, 0.04, 0.05, 0.08, 0.10]))
    lift = float(rng.choice([0.05, 0.10, 0.15, 0.20]))
    mde = base * lift
    n = sample_size_two_proportions(base, mde, alpha=0.05, power=0.8)
    return generated(
        "ab-sample-size",
        f"Control converts at {base:.1%}. You want to detect a relative lift of "
        f"{lift:.0%} ({base:.2%} → {base + mde:.2%}) with a two-sided z-test at "
        "α = 0.05 and 80% power. How many users per arm?",
        n,
        source="labs.experiments.power.sample_size_two_proportions",
        tolerance=REL,
        unit="users per arm",
        computation=f"sample_size_two_proportions({base}, {mde:.6g}) = {plain_number(n)}",
        explain="n = ((z₀.₉₇₅·√(2p̄(1−p̄)) + z₀.₈·√(p_c q_c + p_t q_t)) / δ)², with "
        "z₀.₉₇₅ = 1.96 and z₀.₈ = 0.84; the rule of thumb 16·p̄(1−p̄)/δ², with p̄ "
        "the mean of the two rates, lands within a few percent.",
        given={"p_control": base, "mde": mde, "alpha": 0.05, "power": 0.8},
    )


def power_at_n(rng: np.random.Generator) -> Posed:
    from labs.experiments import power_two_proportions, sample_size_two_proportions

    base = float(rng.choice([0.03, 0.05, 0.10]))
    mde = base * float(rng.choice([0.05, 0.10]))
    full = sample_size_two_proportions(base, mde, power=0.8)
    n = int(round(full * float(rng.uniform(0.35, 0.9)), -2))
    power = float(power_two_proportions(base, mde, n))
    return generated(
        "ab-power",
        f"A test of {base:.0%} → {base + mde:.2%} conversion runs {n:,} users per arm "
        "(two-sided z-test, α = 0.05). What is its power?",
        power,
        source="labs.experiments.power.power_two_proportions",
        tolerance=REL,
        computation=f"power_two_proportions({base}, {mde:.6g}, {n}) = {power:.4f}",
        explain="Power = Φ((δ − z₀.₉₇₅·σ₀)/σ₁) + Φ((−δ − z₀.₉₇₅·σ₀)/σ₁), σ₀ pooled under "
        f"H0, σ₁ under H1; {n:,} users is below the {full:,} that 80% power needs.",
        given={"p_control": base, "mde": mde, "n_per_arm": n, "alpha": 0.05},
    )


def _counts(rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Two arms' conversions and sizes, with a z between 1.3 and 3.2."""
    n = int(rng.choice([4000, 5000, 8000, 10000, 20000]))
    p = float(rng.uniform(0.03, 0.12))
    z = float(rng.uniform(1.3, 3.2))
    s_c = round(p * n)
    se = np.sqrt(2 * p * (1 - p) / n)
    s_t = round(float((p + z * se) * n))
    return s_c, n, s_t, n


def p_value_from_counts(rng: np.random.Generator) -> Posed:
    from labs.experiments import two_proportion_ztest

    s_c, n_c, s_t, n_t = _counts(rng)
    result = two_proportion_ztest(s_c, n_c, s_t, n_t)
    p = float(result.p_value)
    return generated(
        "p-value-from-counts",
        f"Control: {s_c:,} conversions of {n_c:,} users; treatment: {s_t:,} of "
        f"{n_t:,}. What is the two-sided p-value of the pooled two-proportion z-test?",
        p,
        source="labs.experiments.significance.two_proportion_ztest",
        tolerance=Tolerance(relative=0.1),  # z read from a table to two decimals
        computation=f"two_proportion_ztest({s_c}, {n_c}, {s_t}, {n_t}): "
        f"z = {float(result.statistic):.3f}, p = {p:.4g}",
        explain="z = (p̂_t − p̂_c) / √(p̂(1−p̂)(1/n_c + 1/n_t)) with the pooled p̂; "
        "p = 2·(1 − Φ(|z|)).",
        given={"s_c": s_c, "n_c": n_c, "s_t": s_t, "n_t": n_t},
    )


def interval_margin(rng: np.random.Generator) -> Posed:
    from labs.experiments import two_proportion_ztest

    s_c, n_c, s_t, n_t = _counts(rng)
    result = two_proportion_ztest(s_c, n_c, s_t, n_t, alpha=0.05)
    margin = 100 * (float(result.ci_high) - float(result.ci_low)) / 2
    return generated(
        "interval-margin",
        f"Control: {s_c:,} conversions of {n_c:,}; treatment: {s_t:,} of {n_t:,}. "
        "The 95% confidence interval of the difference in conversion rate is the "
        "difference ± a margin. What is the margin, in percentage points?",
        margin,
        source="labs.experiments.significance.two_proportion_ztest",
        tolerance=REL,
        unit="percentage points",
        computation=f"two_proportion_ztest(...): interval [{float(result.ci_low):.5f}, "
        f"{float(result.ci_high):.5f}], half its width × 100 = {margin:.4f}",
        explain="margin = 1.96 · √(p̂_c(1−p̂_c)/n_c + p̂_t(1−p̂_t)/n_t): the unpooled "
        "standard error, since the interval does not assume H0.",
        given={"s_c": s_c, "n_c": n_c, "s_t": s_t, "n_t": n_t, "alpha": 0.05},
    )


def peeking(rng: np.random.Generator) -> Posed:
    from labs.experiments import independent_looks_formula

    looks = int(rng.choice([3, 5, 10, 20]))
    alpha = float(rng.choice([0.05, 0.10]))
    rate = independent_looks_formula(alpha, looks)
    return generated(
        "peeking-false-positives",
        f"An A/A test (no real effect) is checked {looks} times at α = {alpha:g}, "
        "stopping at the first significant look. If the looks were independent, what "
        "is the chance of declaring a winner?",
        rate,
        source="labs.experiments.peeking.independent_looks_formula",
        tolerance=FINE,
        computation=f"1 − (1 − {alpha:g})^{looks} = {rate:.4f}",
        explain="Real looks share data, so the measured rate is lower than this bound "
        "but still far above α (the lab's run measures it); sequential boundaries "
        "(Pocock, O'Brien–Fleming) bring it back to α.",
        given={"alpha": alpha, "looks": looks},
    )


def bayes_rule(rng: np.random.Generator) -> Posed:
    prior = float(rng.choice([0.001, 0.005, 0.01, 0.02]))
    recall = float(rng.choice([0.90, 0.95, 0.99]))
    false_positive = float(rng.choice([0.01, 0.02, 0.05]))
    # The experiments lab has no Bayes'-rule function: the arithmetic is the answer.
    flagged = prior * recall + (1 - prior) * false_positive
    posterior = prior * recall / flagged
    return generated(
        "bayes-rule",
        f"{prior:.1%} of orders are fraudulent. A model flags {recall:.0%} of "
        f"fraudulent orders and {false_positive:.0%} of honest ones. An order is "
        "flagged: what is the probability it is fraudulent?",
        posterior,
        source="Bayes' rule, written out in common/interview/stats_problems.py",
        tolerance=REL,
        computation=f"{prior}·{recall} / ({prior}·{recall} + {1 - prior:g}·"
        f"{false_positive}) = {posterior:.4f}",
        explain="P(fraud | flag) = P(flag | fraud)·P(fraud) / P(flag); at a low base "
        "rate most flags are honest orders, however good the recall.",
        given={"prior": prior, "recall": recall, "false_positive": false_positive},
    )


def coupon_collector(rng: np.random.Generator) -> Posed:
    k = int(rng.integers(4, 13))
    # No lab computes it; E[T] = k·H_k is the coupon collector's expectation.
    expected = k * sum(1 / i for i in range(1, k + 1))
    return generated(
        "expected-impressions",
        f"Each impression shows one of {k} categories uniformly at random. How many "
        "impressions does a user need, on average, to have seen every category?",
        expected,
        source="the coupon collector's E[T] = k·H_k, in common/interview/stats_problems.py",
        tolerance=REL,
        unit="impressions",
        computation=f"{k} · (1 + 1/2 + … + 1/{k}) = {expected:.3f}",
        explain="With j categories seen, a new one takes a geometric number of tries "
        "with mean k/(k − j); the expectation sums them: k/k + k/(k−1) + … + k/1.",
        given={"k": k},
    )


def mean_metric_sample_size(rng: np.random.Generator) -> Posed:
    from labs.experiments import sample_size_means

    sd = float(rng.choice([20.0, 30.0, 40.0, 50.0]))
    mde = float(rng.choice([1.0, 1.5, 2.0, 2.5]))
    n = sample_size_means(sd, mde, alpha=0.05, power=0.8)
    return generated(
        "mean-metric-sample-size",
        f"Revenue per user has a standard deviation of ${sd:.0f}. How many users per "
        f"arm does a two-sided t-test (α = 0.05, 80% power) need to detect a change of "
        f"${mde:g} in the mean?",
        n,
        source="labs.experiments.power.sample_size_means",
        tolerance=REL,
        unit="users per arm",
        computation=f"sample_size_means({sd:g}, {mde:g}) = {plain_number(n)}",
        explain="n ≈ 2·(z₀.₉₇₅ + z₀.₈)²·σ²/δ² = 15.7·σ²/δ²; the exact noncentral t "
        "adds a unit or two.",
        given={"sd": sd, "mde": mde, "alpha": 0.05, "power": 0.8},
    )


PROBLEMS: tuple[Problem, ...] = (
    ab_sample_size,
    power_at_n,
    p_value_from_counts,
    interval_margin,
    mean_metric_sample_size,
    peeking,
    bayes_rule,
    coupon_collector,
)


def generate(seed: int) -> list[Posed]:
    """Every problem with numbers drawn from ``seed`` (one stream per problem)."""
    streams = np.random.SeedSequence(seed).spawn(len(PROBLEMS))
    return [
        make(np.random.default_rng(s))
        for make, s in zip(PROBLEMS, streams, strict=True)
    ]

"""Generated problems' answers agree with independent oracles (scipy, sklearn, brute force).

The rounds compute answers with the experiments and classical_ml labs'
reference code; here the same numbers are recomputed another way.
"""

import math

import numpy as np
import pytest
from scipy import special, stats
from sklearn.linear_model import Lasso

from common.interview import ml_problems, stats_problems

SEEDS = [0, 1, 2, 3, 4]


def by_id(problems):
    return {p.id: p for p in problems}


@pytest.fixture(params=SEEDS, scope="module")
def stats_round(request):
    return by_id(stats_problems.generate(request.param))


@pytest.fixture(params=SEEDS, scope="module")
def ml_round(request):
    return by_id(ml_problems.generate(request.param))


def _z_power(p, mde, n, alpha=0.05):
    q, p_t = stats.norm.ppf(1 - alpha / 2), p + mde
    bar = (p + p_t) / 2
    s0, s1 = (
        math.sqrt(2 * bar * (1 - bar) / n),
        math.sqrt((p * (1 - p) + p_t * (1 - p_t)) / n),
    )
    return stats.norm.cdf((mde - q * s0) / s1) + stats.norm.cdf((-mde - q * s0) / s1)


def test_sample_size_is_the_smallest_n_with_the_power(stats_round):
    f = stats_round["ab-sample-size"].figures
    n = stats_round["ab-sample-size"].expected
    assert (
        _z_power(f["p_control"], f["mde"], n)
        >= 0.8
        > _z_power(f["p_control"], f["mde"], n - 1)
    )
    f = stats_round["ab-power"].figures
    power = _z_power(f["p_control"], f["mde"], f["n_per_arm"])
    assert stats_round["ab-power"].expected == pytest.approx(power, rel=1e-9)


def test_p_value_is_pearsons_chi_square_on_the_table(stats_round):
    f = stats_round["p-value-from-counts"].figures
    table = [[f["s_c"], f["n_c"] - f["s_c"]], [f["s_t"], f["n_t"] - f["s_t"]]]
    p = stats.chi2_contingency(table, correction=False).pvalue
    assert stats_round["p-value-from-counts"].expected == pytest.approx(p, rel=1e-9)
    assert 0.001 < p < 0.2  # a p-value worth reasoning about, never 0


def test_interval_margin_is_the_unpooled_wald_half_width(stats_round):
    f = stats_round["interval-margin"].figures
    p_c, p_t = f["s_c"] / f["n_c"], f["s_t"] / f["n_t"]
    se = math.sqrt(p_c * (1 - p_c) / f["n_c"] + p_t * (1 - p_t) / f["n_t"])
    assert stats_round["interval-margin"].expected == pytest.approx(
        100 * stats.norm.ppf(0.975) * se
    )


def test_mean_sample_size_by_the_noncentral_t(stats_round):
    f, n = (
        stats_round["mean-metric-sample-size"].figures,
        stats_round["mean-metric-sample-size"].expected,
    )

    def power(k):
        df, nc = 2 * k - 2, f["mde"] / (f["sd"] * math.sqrt(2 / k))
        t = stats.t.ppf(0.975, df)
        return 1 - stats.nct.cdf(t, df, nc) + stats.nct.cdf(-t, df, nc)

    assert power(n) >= 0.8 > power(n - 1)


def test_peeking_bayes_and_the_coupon_collector_by_brute_force(stats_round):
    f = stats_round["peeking-false-positives"].figures
    rng = np.random.default_rng(0)
    any_false = (rng.random((200_000, int(f["looks"]))) < f["alpha"]).any(axis=1).mean()
    assert stats_round["peeking-false-positives"].expected == pytest.approx(
        any_false, abs=0.005
    )

    f = stats_round["bayes-rule"].figures
    orders = 10**7  # count an explicit population
    fraud = round(orders * f["prior"])
    flagged_fraud, flagged_honest = (
        fraud * f["recall"],
        (orders - fraud) * f["false_positive"],
    )
    assert stats_round["bayes-rule"].expected == pytest.approx(
        flagged_fraud / (flagged_fraud + flagged_honest), rel=1e-9
    )

    k = int(stats_round["expected-impressions"].figures["k"])
    draws = rng.integers(0, k, size=(4000, 40 * k))  # every category appears, surely
    first = (draws[..., None] == np.arange(k)).argmax(axis=1)  # (runs, k)
    impressions = first.max(axis=1) + 1  # when the last category first appeared
    assert stats_round["expected-impressions"].expected == pytest.approx(
        impressions.mean(), rel=0.03
    )


def test_confusion_metrics_from_their_definitions(ml_round):
    f = ml_round["confusion-precision"].figures
    p, r = f["tp"] / (f["tp"] + f["fp"]), f["tp"] / (f["tp"] + f["fn"])
    assert ml_round["confusion-precision"].expected == pytest.approx(p)
    assert ml_round["confusion-recall"].expected == pytest.approx(r)
    assert ml_round["confusion-f1"].expected == pytest.approx(2 * p * r / (p + r))


def test_impurity_and_gain_from_their_definitions(ml_round):
    f = ml_round["gini-impurity"].figures
    n = f["positive"] + f["negative"]
    assert ml_round["gini-impurity"].expected == pytest.approx(
        1 - (f["positive"] / n) ** 2 - (f["negative"] / n) ** 2
    )

    def entropy(a, b):
        return -sum(x / (a + b) * math.log2(x / (a + b)) for x in (a, b) if x)

    g = ml_round["information-gain"].figures
    left, right = (
        (g["left_positive"], g["left_negative"]),
        (g["right_positive"], g["right_negative"]),
    )
    total = sum(left) + sum(right)
    gain = entropy(left[0] + right[0], left[1] + right[1]) - sum(
        sum(c) / total * entropy(*c) for c in (left, right)
    )
    assert ml_round["information-gain"].expected == pytest.approx(gain)
    assert gain > 0.05


def test_ridge_lasso_and_bagging(ml_round):
    f = ml_round["ridge-slope"].figures
    assert ml_round["ridge-slope"].expected == pytest.approx(
        f["sxy"] / (f["sxx"] + f["alpha"])
    )

    f = ml_round["lasso-coordinate-update"].figures
    x = np.array([-1.0, 1.0] * 50)  # centred, mean(x²) = 1
    y = f["rho"] * x  # mean(x·y) = rho
    sklearn_w = Lasso(alpha=f["alpha"]).fit(x[:, None], y).coef_[0]
    assert ml_round["lasso-coordinate-update"].expected == pytest.approx(
        sklearn_w, abs=1e-6
    )
    assert ml_round["lasso-coordinate-update"].expected != 0

    f = ml_round["bagging-variance"].figures
    trees = int(f["trees"])
    cov = f["variance"] * (
        f["rho"] * np.ones((trees, trees)) + (1 - f["rho"]) * np.eye(trees)
    )
    assert ml_round["bagging-variance"].expected == pytest.approx(cov.sum() / trees**2)


def test_pca_components_and_logistic_probability(ml_round):
    f = ml_round["pca-components"].figures
    eigen = [f[f"eigenvalue_{i}"] for i in range(1, 9)]
    shares = np.cumsum(eigen) / sum(eigen)
    assert ml_round["pca-components"].expected == next(
        i + 1 for i, share in enumerate(shares) if share > f["target"]
    )

    f = ml_round["logistic-probability"].figures
    z = f["b"] + sum(f[f"w{i}"] * f[f"x{i}"] for i in range(3))
    assert ml_round["logistic-probability"].expected == pytest.approx(special.expit(z))


def test_no_generated_answer_is_zero_so_doubling_it_is_always_wrong():
    for seed in range(40):
        for posed in stats_problems.generate(seed) + ml_problems.generate(seed):
            assert posed.expected != 0, (seed, posed.id)

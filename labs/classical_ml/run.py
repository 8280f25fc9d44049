"""``labkit run classical_ml``: the figures behind the classical-ML answers.

    labkit run classical_ml                 # writes results/classical_ml/README.md
    labkit run classical_ml --preset tiny   # the ShopStream CTR part on the tiny preset

Steps, in page order: agreement with scikit-learn; the CTR model on
ShopStream; gradient descent on raw vs standardised features; L1 vs L2;
bias and variance (tree depth, k in kNN, learning curves, bagging); k-means
(elbow, seeding); naive Bayes smoothing; PCA on raw vs standardised data.
Every sentence with a number is formatted from a measured figure.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.linear_model import LogisticRegression as SkLogistic

from common.results import Results, fmt
from common.shopstream import roc_auc
from labs.classical_ml import experiments
from labs.classical_ml.agreement import agreement_rows
from labs.classical_ml.data import shopstream_ctr, split
from labs.classical_ml.logistic import LogisticRegression

log = logging.getLogger(__name__)


def _number(value: object) -> str:
    """Tiny differences in scientific notation, the rest as the page formats them."""
    if isinstance(value, float) and value != 0 and abs(value) < 1e-3:
        return f"{value:.1e}"
    return fmt(value)


def _agreement(results: Results) -> None:
    rows = results.add("agreement", agreement_rows())
    results.text(
        "## Agreement with scikit-learn\n\nSame data, same regularisation or limits; "
        "measured here, asserted with bounds in the tests. Tree accuracy differs on "
        "single splits because tied splits are broken differently (scikit-learn "
        "visits features in a random order); averaged over splits it agrees."
    )
    shown = [{**r, "value": _number(r["value"])} for r in rows]
    results.table(shown, columns=["milestone", "model", "data", "metric", "value"])


def _ctr(results: Results, preset: str) -> None:
    X, clicked, names, p_click = shopstream_ctr(preset)
    X_tr, X_va, labels_tr, labels_va = split(
        X, np.column_stack([clicked, p_click]), 0.3, 0
    )
    y_tr, y_va, p_va = labels_tr[:, 0], labels_va[:, 0], labels_va[:, 1]
    ours = LogisticRegression(C=1.0).fit(X_tr, y_tr)
    ref = SkLogistic(C=1.0, solver="newton-cholesky", tol=1e-10).fit(X_tr, y_tr)
    auc = roc_auc(y_va, ours.decision_function(X_va))
    bayes = roc_auc(y_va, p_va)
    figures = results.add(
        "ctr",
        {
            "preset": preset,
            "rows": len(clicked),
            "ctr": float(clicked.mean()),
            "auc": auc,
            "bayes_auc": bayes,
            "max_coef_diff_vs_sklearn": float(np.abs(ours.coef_ - ref.coef_[0]).max()),
            "newton_iterations": ours.n_iter_,
        },
    )
    results.text(
        f"## The CTR use case on ShopStream ({preset})\n\n"
        f"Logistic regression (Newton, C=1) on {len(names)} static features of "
        f"{fmt(figures['rows'])} impressions (CTR {figures['ctr']:.2%}): validation AUC "
        f"**{auc:.3f}** against a Bayes-optimal {bayes:.3f}. The static features miss "
        "the user, session and trending signal the feature-store lab builds. Newton "
        f"took {ours.n_iter_} iterations; the largest coefficient difference from "
        f"scikit-learn is {figures['max_coef_diff_vs_sklearn']:.1e}."
    )
    results.table(
        [
            {"feature": n, "ours": float(a), "sklearn": float(b)}
            for n, a, b in zip(names, ours.coef_, ref.coef_[0], strict=True)
        ],
        title="CTR coefficients (log-odds per unit)",
    )


def _gd(results: Results) -> None:
    fig = results.add("gd_convergence", experiments.gd_convergence())
    std, raw = fig["standardised"], fig["raw"]
    raw_steps = (
        f"did not converge in {fmt(fig['budget'])} steps (gap still "
        f"{raw['gd_final_gap']:.1e})"
        if raw["gd_iterations"] is None
        else f"needed {fmt(raw['gd_iterations'])} steps"
    )
    results.text(
        "## Unscaled features and gradient descent\n\n"
        f"On standardised features GD reached max|grad| <= 1e-6 in "
        f"{fmt(std['gd_iterations'])} steps; on raw features it {raw_steps}. GD's step "
        "1/L must respect the largest curvature and its progress per step is set by "
        f"the smallest: L/mu is {std['L_over_mu']:.3g} standardised vs "
        f"{raw['L_over_mu']:.3g} raw (Hessian condition numbers "
        f"{std['condition_number']:.3g} vs {raw['condition_number']:.3g}). Newton, "
        "which rescales by the Hessian, needed "
        f"{std['newton_iterations']} and {raw['newton_iterations']} iterations. On raw "
        f"features GD's model classifies {raw['gd_accuracy']:.1%} of the training rows "
        f"correctly, Newton's {raw['newton_accuracy']:.1%}."
    )
    with results.plot(
        "gd_convergence", "Objective gap J - J* per gradient-descent step"
    ) as ax:
        ax.semilogy(std["gap"], label="standardised features")
        ax.semilogy(raw["gap"], label="raw features")
        ax.set_xlabel("iteration")
        ax.set_ylabel("J - J*")
        ax.legend()


def _l1_l2(results: Results) -> None:
    fig = results.add("regularisation_path", experiments.regularisation_path())
    i = int(np.argmin(np.abs(np.array(fig["lasso_nonzero"]) - fig["n_features"] // 2)))
    results.text(
        "## L1 vs L2\n\n"
        f"At alpha={fig['alphas'][i]:.3g} the lasso keeps {fig['lasso_nonzero'][i]} of "
        f"{fig['n_features']} coefficients and at alpha={fig['alphas'][-1]:.3g} "
        f"{fig['lasso_nonzero'][-1]}; ridge never keeps fewer than "
        f"{min(fig['ridge_nonzero'])} on the same alphas (its smallest coefficient at the "
        f"largest alpha is {fig['ridge_smallest_abs_coef'][-1]:.3g} in absolute value: "
        "shrunk, not zero)."
    )
    with results.plot("l1_vs_l2", "Non-zero coefficients by penalty strength") as ax:
        ax.semilogx(fig["alphas"], fig["lasso_nonzero"], "o-", label="lasso (L1)")
        ax.semilogx(fig["alphas"], fig["ridge_nonzero"], "s-", label="ridge (L2)")
        ax.set_xlabel("alpha (mean-squared-error scale)")
        ax.set_ylabel("non-zero coefficients")
        ax.legend()


def _bias_variance(results: Results) -> None:
    depth = results.add("depth_sweep", experiments.depth_sweep())
    ks = results.add("k_sweep", experiments.k_sweep())
    curves = results.add("learning_curves", experiments.learning_curves())
    bag = results.add("bagging", experiments.bagging_variance())
    best_depth = depth["depths"][int(np.argmax(depth["val"]))]
    best_k = ks["ks"][int(np.argmax(ks["val"]))]
    deep, shallow = curves["deep tree (no limit)"], curves["stump-like tree (depth 2)"]
    results.text(
        "## Bias and variance\n\n"
        f"- **Tree depth.** At depth {depth['depths'][0]} train and validation are "
        f"{depth['train'][0]:.3f} and {depth['val'][0]:.3f} (gap "
        f"{depth['train'][0] - depth['val'][0]:.3f}); train accuracy rises to "
        f"{depth['train'][-1]:.3f} at depth {depth['depths'][-1]} while validation "
        f"peaks at {max(depth['val']):.3f} (depth {best_depth}) and ends at "
        f"{depth['val'][-1]:.3f} (gap {depth['train'][-1] - depth['val'][-1]:.3f}).\n"
        f"- **k in kNN.** k=1 scores {ks['train'][0]:.3f} on its own training set and "
        f"{ks['val'][0]:.3f} on validation; validation peaks at {max(ks['val']):.3f} "
        f"(k={best_k}); at k={ks['ks'][-1]} train and validation are {ks['train'][-1]:.3f} "
        f"and {ks['val'][-1]:.3f}.\n"
        f"- **Learning curves.** With {curves['sizes'][-1]} rows the deep tree's "
        f"train-validation gap is {deep['train'][-1] - deep['val'][-1]:.3f} (it was "
        f"{deep['train'][0] - deep['val'][0]:.3f} at {curves['sizes'][0]}): variance. The "
        f"depth-2 tree sits at {shallow['train'][-1]:.3f} train / {shallow['val'][-1]:.3f} "
        "validation: bias; more data does not help it.\n"
        f"- **Bagging.** Across {bag['n_resamples']} bootstrap training sets, "
        f"{bag['single tree']['instability']:.1%} of validation predictions of a single deep "
        f"tree change; for a bag of {bag['n_trees']} trees, "
        f"{bag['bagged trees']['instability']:.1%} (accuracy "
        f"{bag['single tree']['accuracy']:.3f} vs {bag['bagged trees']['accuracy']:.3f})."
    )
    with results.plot(
        "tree_depth", f"CART on {depth['dataset']}: accuracy by max_depth"
    ) as ax:
        ax.plot(depth["depths"], depth["train"], "o-", label="train")
        ax.plot(depth["depths"], depth["val"], "s-", label="validation")
        ax.set_xlabel("max_depth")
        ax.set_ylabel("accuracy")
        ax.legend()
    with results.plot("knn_k", "kNN on breast cancer: accuracy by k") as ax:
        ax.semilogx(ks["ks"], ks["train"], "o-", label="train")
        ax.semilogx(ks["ks"], ks["val"], "s-", label="validation")
        ax.set_xlabel("k")
        ax.set_ylabel("accuracy")
        ax.legend()
    with results.plot("learning_curves", "Learning curves on digits") as ax:
        for label in ("deep tree (no limit)", "stump-like tree (depth 2)"):
            ax.plot(
                curves["sizes"], curves[label]["train"], "o-", label=f"{label}: train"
            )
            ax.plot(
                curves["sizes"],
                curves[label]["val"],
                "s--",
                label=f"{label}: validation",
            )
        ax.set_xlabel("training rows")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7)


def _kmeans(results: Results) -> None:
    fig = results.add("elbow", experiments.elbow())
    seeding = results.add("seeding", experiments.seeding_comparison())
    drops = fig["relative_drop"]  # drops[i]: from k = ks[i] to ks[i + 1]
    elbow_k = fig["ks"][max(i for i, d in enumerate(drops) if d >= 0.25) + 1]
    after = drops[fig["ks"].index(elbow_k) :]
    results.text(
        "## k-means: choosing k and seeding\n\n"
        f"Each extra centre cuts the inertia by {drops[0]:.0%}, {drops[1]:.0%}, ... "
        f"(at least 25% per step) up to k={elbow_k}; beyond it by at most "
        f"{max(after):.0%} per step: the elbow (the data has {fig['true_k']} centres)."
    )
    with results.plot("elbow", "k-means inertia by k (6 true centres)") as ax:
        ax.plot(fig["ks"], fig["inertia"], "o-")
        ax.axvline(fig["true_k"], color="grey", linestyle=":")
        ax.set_xlabel("k")
        ax.set_ylabel("inertia")
    results.table(
        seeding["rows"],
        title=f"Seeding, k={seeding['k']}, {seeding['n_init']} Lloyd runs each",
    )


def _naive_bayes(results: Results) -> None:
    fig = results.add("naive_bayes_tweets", experiments.naive_bayes_tweets())
    results.text(
        "## Naive Bayes on four tweets\n\n"
        + "\n".join(f"- ({label}) {text}" for text, label in fig["tweets"])
        + f"\n\nQuery: *{fig['query']}*; words seen in training: "
        + ", ".join(fig["query_words_in_vocab"])
        + ". With alpha=0 a word a class never saw sets its likelihood to 0."
    )
    results.table(fig["rows"])


def _pca(results: Results) -> None:
    fig = results.add("pca_scaling", experiments.pca_scaling())
    low, high = fig["feature_std_range"]
    results.text(
        "## PCA on raw vs standardised features\n\n"
        f"Wine's feature standard deviations run from {low:.3g} to {high:.3g}. Raw, PC1 "
        f"explains {fig['raw_ratio'][0]:.1%} and its largest loading is "
        f"`{fig['raw_pc1_top_feature']}`; {fig['raw_components_for_95']} component(s) "
        f"reach 95%. Standardised, PC1 explains {fig['std_ratio'][0]:.1%} (top loading "
        f"`{fig['std_pc1_top_feature']}`) and {fig['std_components_for_95']} components "
        "reach 95%."
    )
    with results.plot(
        "pca_scaling", "Wine: explained-variance ratio per component"
    ) as ax:
        index = np.arange(1, len(fig["raw_ratio"]) + 1)
        ax.bar(index - 0.2, fig["raw_ratio"], width=0.4, label="raw units")
        ax.bar(index + 0.2, fig["std_ratio"], width=0.4, label="standardised")
        ax.set_xlabel("component")
        ax.set_ylabel("explained variance ratio")
        ax.legend()


def run(results: Results, *, preset: str = "small") -> None:
    """Measure everything and write the page (``preset`` sizes the ShopStream part)."""
    steps = (
        ("agreement", _agreement),
        ("ctr", lambda r: _ctr(r, preset)),
        ("gd", _gd),
        ("l1_l2", _l1_l2),
        ("bias_variance", _bias_variance),
        ("kmeans", _kmeans),
        ("naive_bayes", _naive_bayes),
        ("pca", _pca),
    )
    from threadpoolctl import threadpool_limits

    # One BLAS/OpenMP thread: these matrices are small, and on a shared
    # machine extra threads only contend (scikit-learn is already imported,
    # so the limit covers its libraries too).
    with threadpool_limits(limits=1):
        for name, step in steps:
            log.info("classical_ml run: %s", name)
            step(results)

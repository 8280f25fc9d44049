"""``labkit bench autograd --json``: accuracy, training time and gradient error.

Figures (medians over seeds, from one run):

- ``digits_accuracy``: test accuracy of the default MLP after the full run
  (target ≥ 0.95), median over seeds; ``digits_accuracy_min`` the worst seed.
- ``train_seconds``: seconds of training steps for that run (target < 60).
- ``ms_per_step``: one forward + backward + Adam step on a batch of 64.
- ``grad_check_max_abs_err``: max |engine − torch.autograd| over random graphs.
- ``central_diff_max_abs_err``: max |central differences − torch| on smooth graphs.
- ``blas_default_over_one_thread``: training time with the BLAS library's
  default threads ÷ with one thread (small matmuls on a busy machine).
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import replace

from common.results import Results
from labs.autograd import experiments as ex
from labs.autograd.train import TrainConfig, load_digits_data, train

log = logging.getLogger(__name__)

PRESETS = {
    # seeds of the full training run, random graphs, epochs of the thread comparison
    "tiny": {"seeds": 1, "graphs": 50, "thread_epochs": 1},
    "small": {"seeds": 3, "graphs": 500, "thread_epochs": 2},
    "large": {"seeds": 5, "graphs": 2000, "thread_epochs": 5},
}


def bench(results: Results, *, preset: str = "small") -> None:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; use one of {sorted(PRESETS)}.")
    knobs = PRESETS[preset]
    data = load_digits_data(test_fraction=0.25, seed=0)
    config = TrainConfig()
    runs = []
    for seed in range(knobs["seeds"]):
        log.info("training seed %d", seed)
        runs.append(train(replace(config, seed=seed), data))
    accuracies = [r.final_test_accuracy for r in runs]
    seconds = [r.train_seconds for r in runs]
    steps = len(runs[0].step_loss)
    results.add("digits_accuracy", statistics.median(accuracies))
    results.add("digits_accuracy_min", min(accuracies))
    results.add("train_seconds", round(statistics.median(seconds), 3))
    results.add("ms_per_step", round(1e3 * statistics.median(seconds) / steps, 3))
    results.add("seeds", knobs["seeds"])
    results.add("epochs", config.epochs)
    agreement = ex.graph_agreement(knobs["graphs"], seed=1)
    results.add("grad_check_max_abs_err", agreement["engine_vs_torch_max_abs_err"])
    results.add(
        "central_diff_max_abs_err", agreement["central_diff_vs_torch_max_abs_err"]
    )
    results.add("grad_check_graphs", agreement["graphs"])
    threads = ex.blas_thread_timing(
        data, replace(config, epochs=knobs["thread_epochs"])
    )
    results.add("blas_default_over_one_thread", round(threads["ratio"], 2))
    results.text(
        f"Default config ({config.hidden} hidden, Adam lr {config.lr}, "
        f"{config.epochs} epochs, batch {config.batch_size}), {knobs['seeds']} seed(s): "
        f"median test accuracy {statistics.median(accuracies):.1%} (worst "
        f"{min(accuracies):.1%}), median {statistics.median(seconds):.2f} s of "
        f"training. Gradients on {agreement['graphs']} random graphs agree with "
        f"torch.autograd to {agreement['engine_vs_torch_max_abs_err']:.2g}. With the "
        f"BLAS library's default threads, training took {threads['ratio']:.1f}× as long "
        "as with one thread."
    )
    results.table(
        [{"figure": k, "value": v} for k, v in results.figures.items()],
        title="Figures",
    )

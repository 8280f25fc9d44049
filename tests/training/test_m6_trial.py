"""m6 — a Tune trial's side of ASHA, checked without Ray.

ASHA can only stop a trial at a rung if the trial told it how it was doing
there: ``run_trial`` must report the validation AUC under ``METRIC`` after
*every* epoch. Here Tune's ``report`` is replaced by a recorder and the trial
runs in this process (seconds); ``test_m6_ray.py`` then runs the real search.
"""

from __future__ import annotations

from typing import Any

import pytest

from labs.training.train import TrainConfig, fit_encoded
from labs.training.tune import METRIC, TUNED, run_trial, widths

EPOCHS = 2


def test_a_trial_reports_its_validation_auc_after_every_epoch(
    encoded, monkeypatch
) -> None:
    import ray.train
    import ray.tune

    train, valid, sizes, config = encoded
    base = config.replace(max_epochs=EPOCHS, patience=EPOCHS).to_dict()
    # The default point, as Tune passes it (the search's first trial).
    params = {name: base[name] for name in TUNED}
    params["hidden"] = "x".join(str(h) for h in config.hidden)
    reports: list[dict[str, Any]] = []

    def record(metrics: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        reports.append(dict(metrics))

    monkeypatch.setattr(ray.tune, "report", record)
    monkeypatch.setattr(ray.train, "report", record)  # the older spelling works too
    run_trial(params, train, valid, sizes, base)

    trial_config = TrainConfig.from_dict(
        {**base, **params, "hidden": widths(params["hidden"])}
    )
    _, history, _, _ = fit_encoded(train, valid, sizes[0], sizes[1], trial_config)
    assert len(reports) == len(history) == EPOCHS, (
        f"the trial reported {len(reports)} time(s) in {EPOCHS} epochs: report after "
        "every epoch (fit_encoded's on_epoch), or ASHA has nothing to stop it on"
    )
    for epoch, (sent, log) in enumerate(zip(reports, history, strict=True), start=1):
        assert METRIC in sent, f"epoch {epoch}'s report has no {METRIC!r}: {sent}"
        assert sent[METRIC] == pytest.approx(log.valid_auc, abs=1e-12), (
            f"epoch {epoch} reported {METRIC}={sent[METRIC]!r}; its validation AUC "
            f"is {log.valid_auc!r} (Tune maximises what is reported under {METRIC!r})"
        )

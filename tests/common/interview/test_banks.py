"""The labs' question banks: loaded, big enough, and asking only about figures that exist.

Fast tests (``make test``): every ``labs/<lab>/interview.toml`` loads against
the real scenarios, holds its minimum of questions and a mix of kinds, and
names only figures the lab's ``run`` records. That last check is static
(``recorded_figures.py``): each figure path must be a ``results.add`` name and
keys that the code ``run`` reaches writes. It catches a misspelt or renamed
figure without running anything; it cannot tell which nested dict a key
lands in.

The extended test (``make test-extended``) closes that gap with the real
thing: ``labkit demo --preset tiny`` into a private results and data folder,
then every figure of every question must be a finite number in the written
``results.json``, and each design round answered with its own ``--reveal``
key must score 100% on those figures. No committed results file stands in.
"""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest
from recorded_figures import is_recorded
from typer.testing import CliRunner

from common.interview import formula
from common.interview.bank import bank_path, load_bank
from common.interview.figures import Figures, MissingFigure, split_reference
from common.interview.question import Question
from common.interview.scenarios import load_scenarios
from common.kit.manifest import Kit
from infra.processes import OwnedProcess

REPO = Path(__file__).resolve().parents[3]
PIPELINE = (
    "feature_store",
    "training",
    "batch_serving",
    "online_serving",
    "load_testing",
)
FIRST_PRINCIPLES = (
    "autograd",
    "transformer",
    "classical_ml",
    "experiments",
    "dsa_for_ml",
    "distributed_training",
)
MINIMUM = {**dict.fromkeys(PIPELINE, 8), **dict.fromkeys(FIRST_PRINCIPLES, 6)}
DEMO_TIMEOUT_S = 1500
SCENARIOS = load_scenarios()


@cache
def bank(lab_id: str) -> tuple[Question, ...]:
    lab = Kit().lab(lab_id)
    return tuple(load_bank(bank_path(lab.package_dir), lab_id, set(SCENARIOS)))


def every_question() -> list[Question]:
    return [q for lab_id in MINIMUM for q in bank(lab_id)]


# --- fast: the banks as data ------------------------------------------------------------


@pytest.mark.parametrize("lab_id", list(MINIMUM))
def test_the_bank_loads_with_its_minimum_and_a_mix_of_kinds(lab_id):
    questions = bank(lab_id)
    assert len(questions) >= MINIMUM[lab_id], (
        f"labs/{lab_id}/interview.toml has {len(questions)} questions; "
        f"the issue asks for at least {MINIMUM[lab_id]}."
    )
    kinds = {q.kind for q in questions}
    assert "numeric" in kinds and "open" in kinds and kinds & {"choice", "short"}


@pytest.mark.parametrize("lab_id", list(MINIMUM))
def test_numeric_answers_come_from_figures_and_every_figure_is_used(lab_id):
    for q in bank(lab_id):
        where = f"{lab_id}.{q.id}"
        if q.kind == "numeric":
            assert isinstance(q.answer, str), f"{where}: a fixed number, not a formula"
            assert formula.names_in(q.answer), f"{where}: the formula uses no figure"
        if q.kind == "open":
            assert _fields(q.model_answer), f"{where}: the model answer cites no figure"
        templates = (q.prompt, q.explain, q.model_answer)
        used = set().union(*map(_fields, templates))
        if isinstance(q.answer, str) and q.kind == "numeric":
            used |= formula.names_in(q.answer)
        assert set(q.figures) <= used, (
            f"{where}: unused figures {set(q.figures) - used}"
        )
        for reference in q.figures.values():
            assert split_reference(reference)[0] == lab_id, (
                f"{where}: {reference} belongs to another lab's run"
            )


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_scenario_step_has_a_question_from_the_labs_it_draws_on():
    for scenario in SCENARIOS.values():
        for step in scenario.steps:
            asked = [
                q
                for lab_id in scenario.labs
                for q in bank(lab_id)
                if scenario.id in q.scenarios and q.step == step.id
            ]
            assert asked, f"{scenario.id}: no question for the step {step.id!r}"
    for q in every_question():
        for scenario_id in q.scenarios:
            assert q.lab in SCENARIOS[scenario_id].labs, (
                f"{q.qualified_id} names {scenario_id}, which never reads "
                f"labs/{q.lab}/interview.toml (its labs: {SCENARIOS[scenario_id].labs})"
            )


# --- fast: every figure is one the lab's run records --------------------------------------


@pytest.mark.parametrize("lab_id", list(MINIMUM))
def test_every_figure_a_question_uses_is_recorded_by_the_labs_run(lab_id):
    unknown = sorted(
        {
            ref
            for q in bank(lab_id)
            for ref in q.figures.values()
            if not is_recorded(ref)
        }
    )
    assert not unknown, (
        f"labs/{lab_id}/interview.toml names figures that `labkit run {lab_id}` "
        f"does not record: {unknown}"
    )


def test_the_static_check_refuses_figures_the_run_never_writes():
    recorded_by_run = [
        "feature_store:pit_join.rows_per_s",
        "online_serving:batching.score_on.p99_ms",  # score_on: f"{name}_{mode}"
        "load_testing:coordinated_omission.open loop, 1.5× capacity.p99 ms",
        "experiments:sample_size_impressions_rel5pct",  # an f-string name
    ]
    never_recorded = [
        "feature_store:pit_join_rows_per_sec",  # no results.add of that name
        "feature_store:pit_join.rows_per_second",  # no such key in the code
        "feature_store:leakage_inflation",  # the training lab's figure
        "online_serving:batching.score_of.p99_ms",
        "experiments:sample_size_impressions_rel5percent",
    ]
    assert [ref for ref in recorded_by_run if not is_recorded(ref)] == []
    assert [ref for ref in never_recorded if is_recorded(ref)] == []


# --- extended: a real demo run, then every question asked on its figures ------------------


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory) -> Path:
    """``labkit demo --preset tiny`` into private folders; its results folder."""
    root = tmp_path_factory.mktemp("demo")
    env = os.environ | {
        "LABKIT_RESULTS": str(root / "results"),
        "LABKIT_DATA": str(root / "data"),
        "LABKIT_WORKSPACE": str(root / "workspace"),
    }
    command = [sys.executable, "-m", "common.kit.cli", "demo", "--preset", "tiny"]
    began = time.perf_counter()
    demo = OwnedProcess.start(command, "demo", root / "demo.log", env=env, cwd=REPO)
    try:
        code = demo.proc.wait(timeout=DEMO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"`labkit demo --preset tiny` ran past {DEMO_TIMEOUT_S} s:\n{demo.log_tail(40)}"
        )
    finally:
        demo.stop()
    assert code == 0, f"`labkit demo --preset tiny` failed:\n{demo.log_tail(40)}"
    sys.stderr.write(
        f"labkit demo --preset tiny: {time.perf_counter() - began:.0f} s\n"
    )
    return root / "results"


def extended(test):
    """Slow, starts Ray and servers, not a milestone check: `make test-extended` only."""
    marks = (
        pytest.mark.extended,
        pytest.mark.ray,
        pytest.mark.server,
        pytest.mark.slow,
    )
    for mark in (*marks, pytest.mark.timeout(DEMO_TIMEOUT_S + 300)):
        test = mark(test)
    return test


@extended
@pytest.mark.parametrize("lab_id", list(MINIMUM))
def test_every_figure_is_a_finite_number_in_a_real_run(lab_id, demo_results):
    figures = Figures(root=demo_results)
    missing = []
    for q in bank(lab_id):
        for reference in q.figures.values():
            try:
                figures.value(reference)
            except MissingFigure as gap:
                missing.append(f"{q.qualified_id}: {gap}")
    assert not missing, "\n".join(missing)


@extended
@pytest.mark.parametrize("scenario_id", list(SCENARIOS))
def test_revealed_answers_score_full_marks_on_the_demos_figures(
    scenario_id, demo_results, tmp_path, monkeypatch
):
    from common.kit import cli

    monkeypatch.setenv("LABKIT_RESULTS", str(demo_results))
    runner = CliRunner()

    def labkit(*args: str) -> dict:
        result = runner.invoke(
            cli.app,
            ["interview", "design", scenario_id, *args, "--workspace", str(tmp_path)],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    shown = labkit("--json", "--reveal")
    scenario = SCENARIOS[scenario_id]
    expected_ids = {
        q.qualified_id
        for lab_id in scenario.labs
        for q in bank(lab_id)
        if scenario_id in q.scenarios
    }
    assert shown["not_asked"] == []
    assert {q["id"] for q in shown["questions"]} == expected_ids
    answers = tmp_path / "answers.toml"
    lines = ["[answers]"] + [
        f"{json.dumps(q['id'])} = {json.dumps(q['expected'])}"
        for q in shown["questions"]
    ]
    answers.write_text("\n".join(lines) + "\n")
    graded = labkit("--answers", str(answers), "--json")
    wrong = [q["id"] for q in graded["questions"] if q["grade"]["status"] != "correct"]
    assert not wrong and graded["score"]["percent"] == 100.0, wrong

"""Rounds through the real `labkit interview` commands, on the fixture kit.

The fixture's design round `toy-service` asks alpha's questions from alpha's
results (two numeric, a choice, an open one) and beta's short one; beta has
not run, so its numeric question is not asked and the round says which
`labkit run` would let it be.
"""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from common.kit import cli_shell


def as_toml(answers: dict, seed: int | None = None) -> str:
    lines = [f"seed = {seed}"] if seed is not None else []
    lines.append("[answers]")
    lines += [f'"{key}" = {json.dumps(value)}' for key, value in answers.items()]
    return "\n".join(lines) + "\n"


def revealed(labkit, *args: str) -> dict:
    shown = labkit(*args, "--json", "--reveal")
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.stdout)


def graded(labkit, tmp_path: Path, answers: dict, *args: str, seed=None) -> dict:
    path = tmp_path / "answers.toml"
    path.write_text(as_toml(answers, seed))
    result = labkit(*args, "--answers", str(path), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def key(round_json: dict) -> dict:
    return {q["id"]: q["expected"] for q in round_json["questions"]}


def doubled(round_json: dict) -> dict:
    return {
        q["id"]: q["expected"] * 2 if q["kind"] == "numeric" else q["expected"]
        for q in round_json["questions"]
    }


def test_the_design_round_asks_from_the_candidates_figures(labkit):
    shown = revealed(labkit, "interview", "design", "toy-service")
    asked = {q["id"]: q for q in shown["questions"]}
    assert list(asked) == [
        "alpha.replicas", "alpha.in-flight", "alpha.batching-trade",
        "beta.closed-loop-error", "alpha.store-down",
    ]  # fmt: skip
    assert asked["alpha.replicas"]["expected"] == 14  # ceil(6000 / (612.4 × 0.7))
    assert asked["alpha.in-flight"]["expected"] == pytest.approx(612.4 * 20 / 1000)
    assert "612 requests/s" in asked["alpha.replicas"]["prompt"]
    assert (
        asked["alpha.store-down"]["model_answer"] == "A fallback answer within 140 ms."
    )
    (not_asked,) = shown["not_asked"]
    assert not_asked["id"] == "beta.join-time"
    assert not_asked["runs"] == ["labkit run beta"]
    assert "results/beta/results.json does not exist yet" in not_asked["reason"]


def test_without_reveal_the_json_holds_no_answers(labkit):
    shown = labkit("interview", "design", "toy-service", "--json")
    assert "expected" not in shown.stdout and "computation" not in shown.stdout


def test_revealed_answers_score_full_marks_and_the_round_is_written(
    labkit, tmp_path, results
):
    shown = revealed(labkit, "interview", "design", "toy-service")
    outcome = graded(labkit, tmp_path, key(shown), "interview", "design", "toy-service")
    assert outcome["score"] == {"points": 5.0, "max": 5, "percent": 100.0}
    assert {q["grade"]["status"] for q in outcome["questions"]} == {"correct"}
    assert "expected" not in json.dumps(outcome)  # --json without --reveal
    pages = sorted((results / "interview").glob("*-design-toy-service.*"))
    assert [p.suffix for p in pages] == [".json", ".md"]
    saved = json.loads(pages[0].read_text())
    assert saved["score"]["percent"] == 100.0
    assert saved["questions"][0]["expected"] == 14  # the record keeps the answers
    page = pages[1].read_text()
    assert "Score: 5.0 / 5 (100%)" in page and "`labkit run beta`" in page


def test_every_numeric_answer_doubled_scores_nothing_on_those(labkit, tmp_path):
    shown = revealed(labkit, "interview", "design", "toy-service")
    outcome = graded(
        labkit, tmp_path, doubled(shown), "interview", "design", "toy-service"
    )
    for question in outcome["questions"]:
        expected = "wrong" if question["kind"] == "numeric" else "correct"
        assert question["grade"]["status"] == expected, question
    assert outcome["score"]["points"] == 3.0


def test_a_non_number_is_recorded_invalid_not_wrong(labkit, tmp_path):
    answers = {"alpha.replicas": "fourteen", "in-flight": 12.2, "nope": 1}
    outcome = graded(labkit, tmp_path, answers, "interview", "design", "toy-service")
    grades = {q["id"]: q["grade"] for q in outcome["questions"]}
    assert grades["alpha.replicas"]["status"] == "invalid"
    assert grades["alpha.replicas"]["detail"].startswith("invalid: not a number")
    assert grades["alpha.replicas"]["points"] == 0
    assert grades["alpha.in-flight"]["status"] == "correct"  # a bare id, unique here
    assert grades["alpha.store-down"]["status"] == "unanswered"
    assert outcome["unknown_answers"] == ["nope"]


def test_the_transcript_shows_the_computation(labkit, tmp_path):
    path = tmp_path / "answers.toml"
    path.write_text(as_toml({"alpha.replicas": 15, "alpha.batching-trade": "a"}))
    result = labkit("interview", "design", "toy-service", "--answers", str(path))
    assert result.exit_code == 0, result.output
    assert "✗ wrong: 15 is not exactly 14" in result.output
    assert "Computation: ceil(peak_rps / (knee_rps * (1 - 0.3))) with" in result.output
    assert "Expected: b) A short wait for a merged call" in result.output
    assert "Score: 0.0 / 5 (0%)" in result.output


def test_interactive_round_re_asks_a_non_number(labkit, results):
    typed = [
        "n",  # beta has not run: do not run it now
        "",  # requirements: nothing graded, talk it through
        "abc", "14",  # replicas: a non-number is re-asked
        "12.2",  # in flight
        "",  # components
        "z", "b",  # batching trade-off: not an option, then b
        "Coordinated omission",
        "A timeout then a fallback.", "", "1, 2",  # open: text, then ticks
    ]  # fmt: skip
    result = labkit("interview", "design", "toy-service", input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    assert "That is not a number ('abc')" in result.output
    assert "That is not an option ('z')" in result.output
    assert "Score: 4.5 / 5 (90%)" in result.output
    saved = json.loads(next((results / "interview").glob("*.json")).read_text())
    grades = {q["id"]: q["grade"] for q in saved["questions"]}
    assert grades["alpha.replicas"] == {
        "status": "correct", "points": 1.0, "given": 14.0,
        "detail": "14 is exactly 14",
    }  # fmt: skip
    assert saved["questions"][-1]["text"] == "A timeout then a fallback."
    assert set(saved["step_seconds"]) == {
        "requirements", "back-of-the-envelope", "components", "deep-dive", "trade-offs"
    }  # fmt: skip


def test_skip_and_end_of_input_keep_what_was_answered(labkit, results):
    result = labkit("interview", "design", "toy-service", input="n\n\nskip\n14\n")
    assert result.exit_code == 0, result.output
    assert "The round stops here." in result.output
    saved = json.loads(next((results / "interview").glob("*.json")).read_text())
    statuses = [q["grade"]["status"] for q in saved["questions"]]
    assert statuses == ["unanswered", "wrong"] + ["unanswered"] * 3
    assert saved["ended_early"]


def test_a_round_whose_figures_are_all_missing_names_the_runs(
    labkit, tmp_path, results
):
    result = labkit(
        "interview", "design", "toy-capacity", "--answers", str(_empty(tmp_path))
    )
    assert result.exit_code == 2
    assert "Run `labkit run beta`" in result.output
    shown = labkit("interview", "design", "toy-capacity", "--json")
    assert json.loads(shown.stdout)["not_asked"][0]["runs"] == ["labkit run beta"]
    (results / "beta").mkdir()
    (results / "beta" / "results.json").write_text(
        '{"figures": {"join": {"rows_per_s": 2e6}}}'
    )
    asked = revealed(labkit, "interview", "design", "toy-capacity")["questions"]
    assert [(q["id"], q["expected"]) for q in asked] == [("beta.join-time", 50.0)]


def test_interactive_offers_to_run_what_is_missing(labkit):
    result = labkit("interview", "design", "toy-capacity", input="n\n")
    assert "`labkit run beta` writes them" in result.output
    assert "Run `labkit run beta` now?" in result.output
    assert result.exit_code == 2  # declined: nothing to ask


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("[answers]\n")
    return path


def test_an_unknown_scenario_lists_the_known_ones(labkit):
    result = labkit("interview", "design", "toy")
    assert result.exit_code == 2
    assert "choose one of toy-service, toy-capacity" in result.output


@pytest.mark.parametrize("kind", ["stats", "ml"])
def test_generated_rounds_grade_revealed_and_doubled_answers(labkit, tmp_path, kind):
    shown = revealed(labkit, "interview", kind, "--seed", "11")
    kinds = {q["kind"] for q in shown["questions"]}
    assert "numeric" in kinds and kinds - {"numeric"}  # concept checks joined
    assert "experiments.needs-a-figure" not in key(shown)
    full = graded(labkit, tmp_path, key(shown), "interview", kind, seed=11)
    assert full["score"]["percent"] == 100.0 and full["seed"] == 11
    half = graded(labkit, tmp_path, doubled(shown), "interview", kind, seed=11)
    for question in half["questions"]:
        expected = "wrong" if question["kind"] == "numeric" else "correct"
        assert question["grade"]["status"] == expected, question


@pytest.mark.parametrize("kind", ["stats", "ml"])
def test_a_new_seed_gives_new_numbers(labkit, kind):
    first = key(revealed(labkit, "interview", kind, "--seed", "1"))
    again = key(revealed(labkit, "interview", kind, "--seed", "1"))
    other = key(revealed(labkit, "interview", kind, "--seed", "2"))
    assert first == again
    numeric = [k for k, v in first.items() if isinstance(v, float)]
    assert sum(first[k] != other[k] for k in numeric) >= len(numeric) - 1


def test_answers_to_generated_numbers_need_their_seed(labkit, tmp_path):
    result = labkit("interview", "stats", "--answers", str(_empty(tmp_path)))
    assert result.exit_code == 2 and "add `seed = N`" in result.output


def test_coding_rounds_say_when_the_drills_are_missing(labkit, monkeypatch):
    monkeypatch.setitem(sys.modules, "common.interview.coding", None)
    result = labkit("interview", "coding")
    assert result.exit_code == 2
    assert "coding rounds are not available yet" in result.output


def test_coding_and_end_call_the_drills_round(labkit, kit, monkeypatch, tmp_path):
    calls = []
    fake = SimpleNamespace(
        start_coding_round=lambda *args: calls.append(("start", *args)),
        end_round=lambda *args: calls.append(("end", *args)) or tmp_path / "r.md",
    )
    monkeypatch.setitem(sys.modules, "common.interview.coding", fake)
    assert (
        labkit("interview", "coding", "--minutes", "30", "--area", "nn").exit_code == 0
    )
    ended = labkit("interview", "end")
    assert ended.exit_code == 0 and "r.md" in ended.output
    assert calls == [
        ("start", kit, 30, "nn", cli_shell.console),
        ("end", kit, cli_shell.console),
    ]


def test_an_answers_file_without_its_table_is_refused_with_the_table_named(
    labkit, tmp_path: Path
):
    path = tmp_path / "answers.toml"
    path.write_text('"alpha.replicas" = 14\n')
    result = labkit("interview", "design", "toy-service", "--answers", str(path))
    assert result.exit_code == 2
    # The message quotes `[answers]`: printed as text, not read as rich markup.
    assert "has no [answers] table; write `[answers]`" in " ".join(
        result.output.split()
    )

"""Question banks load into questions, and every broken field is named with its file and id."""

from pathlib import Path

import pytest

from common.interview.bank import BankError, load_bank
from common.interview.question import Tolerance
from common.interview.scenarios import ScenarioError, load_scenarios

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = """
[[question]]
id = "replicas"
kind = "numeric"
scenarios = ["toy-service"]
step = "back-of-the-envelope"
prompt = "Knee {knee:,.0f}: replicas?"
figures = { knee = "alpha:variants.batching_on.knee_rps" }
answer = "ceil(6000 / (knee * 0.7))"
tolerance = { abs = 0 }
"""


def test_the_fixture_banks_load():
    questions = load_bank(FIXTURES / "kit/ixlabs/alpha/interview.toml", "alpha")
    assert [q.kind for q in questions] == [
        "numeric",
        "numeric",
        "choice",
        "open",
        "short",
    ]
    replicas = questions[0]
    assert replicas.qualified_id == "alpha.replicas"
    assert replicas.tolerance == Tolerance(absolute=0.0)
    assert replicas.figures["knee_rps"] == "alpha:variants.batching_on.knee_rps"
    assert questions[3].rubric == ("Timeout", "Fallback", "Figures", "Alert")


def test_a_lab_without_a_bank_has_no_questions(tmp_path):
    assert load_bank(tmp_path / "interview.toml", "alpha") == []


def _broken(tmp_path: Path, text: str, scenarios=None) -> str:
    path = tmp_path / "interview.toml"
    path.write_text(text)
    with pytest.raises(BankError) as caught:
        load_bank(path, "alpha", scenarios)
    message = str(caught.value)
    assert str(path) in message
    return message


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (('kind = "numeric"', 'kind = "essay"'), "kind 'essay' must be one of"),
        (("tolerance = { abs = 0 }", ""), "needs tolerance"),
        (("tolerance = { abs = 0 }", "tolerance = { rel = 1.0 }"), "0 < rel < 1"),
        (("tolerance = { abs = 0 }", "tolerance = { abs = -1 }"), "abs ≥ 0"),
        (
            ("tolerance = { abs = 0 }", "tolerance = { abs = 0 }\ntolerence = 1"),
            "unknown field(s) ['tolerence']",
        ),
        (
            ("knee * 0.7", "peak * 0.7"),
            "'peak', which is not one of the question's figures",
        ),
        (("ceil(6000", "__import__('os').getpid(6000"), "attribute access"),
        (
            ("Knee {knee:,.0f}", "Knee {peak}"),
            "names {peak}, which is not one of its figures",
        ),
        (("Knee {knee:,.0f}", "Knee {knee.__class__}"), "names {knee.__class__}"),
        (("Knee {knee:,.0f}", "Knee {knee:q}"), "format that a number cannot take"),
        (('"alpha:variants', '"variants'), "not a figure reference"),
        (('step = "back-of-the-envelope"', 'step = "whiteboard"'), "step 'whiteboard'"),
        (('step = "back-of-the-envelope"', ""), "needs a step"),
        (
            ('scenarios = ["toy-service"]', 'scenarios = ["toy-servce"]'),
            "['toy-servce'] are not design scenarios",
        ),
        (
            ('id = "replicas"', 'id = "Replicas!"'),
            "must be lower-case words and hyphens",
        ),
        (
            ('answer = "ceil(6000 / (knee * 0.7))"', "answer = true"),
            "answer = a formula",
        ),
    ],
)
def test_each_broken_field_is_named_with_the_question(tmp_path, change, says):
    old, new = change
    assert old in GOOD
    message = _broken(tmp_path, GOOD.replace(old, new), {"toy-service"})
    assert says in message
    if "Replicas!" not in new:
        assert "question 'replicas'" in message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('options = ["a", "b"]\nanswer = 2', "answer 2 is not an option's index"),
        ('options = ["a", "a"]\nanswer = 0', "2 to 26 different answers"),
        ('options = ["a", "b"]\nanswer = "b"', "0-based index"),
    ],
)
def test_choice_questions_are_checked(tmp_path, body, says):
    text = f'[[question]]\nid = "pick"\nkind = "choice"\nprompt = "Pick."\n{body}\n'
    assert says in _broken(tmp_path, text)


@pytest.mark.parametrize(
    ("rubric", "says"),
    [
        ('["one", "two"]', "rubric has 2 points"),
        ('["a", "b", "c", "d", "e", "f", "g"]', "rubric has 7"),
    ],
)
def test_open_questions_need_three_to_six_rubric_points(tmp_path, rubric, says):
    text = f'[[question]]\nid = "talk"\nkind = "open"\nprompt = "Talk."\nmodel_answer = "Words."\nrubric = {rubric}\n'
    assert says in _broken(tmp_path, text)


def test_ids_are_unique_in_a_bank(tmp_path):
    assert "used twice" in _broken(tmp_path, GOOD + GOOD, {"toy-service"})


def test_invalid_toml_names_the_file(tmp_path):
    assert "not valid TOML" in _broken(tmp_path, "[[question]\nid =")


def test_scenarios_need_all_five_steps_in_order(tmp_path):
    path = tmp_path / "scenarios.toml"
    text = (FIXTURES / "scenarios.toml").read_text()
    path.write_text(text.replace('id = "components"', 'id = "boxes"', 1))
    with pytest.raises(ScenarioError, match=r"toy-service.*in this order"):
        load_scenarios(path)


def test_the_kit_scenarios_load():
    scenarios = load_scenarios()
    assert {
        "ranking-service",
        "feature-store",
        "batch-scoring",
        "capacity-plan",
        "llm-serving",
    } <= set(scenarios)
    assert all(s.minutes >= 30 for s in scenarios.values())

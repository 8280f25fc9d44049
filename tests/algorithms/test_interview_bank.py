"""The lab's interview bank (``labs/algorithms/interview.toml``): every question
is well formed, and every figure a question uses is written by this lab's own
``run``, run here at the tiny preset with the timed sizes shrunk (no
committed results file stands in for it). Not a milestone test: it checks the
bank, not a candidate's code.
"""

from __future__ import annotations

import math
import string
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from common.results import Results
from labs.algorithms import complexity
from labs.algorithms import run as lab_run

BANK = Path(lab_run.__file__).with_name("interview.toml")
QUESTIONS = tomllib.loads(BANK.read_text())["question"]
STEPS = {
    "requirements",
    "back-of-the-envelope",
    "components",
    "deep-dive",
    "trade-offs",
}
MATH = {
    name: getattr(math, name)
    for name in ("ceil", "floor", "sqrt", "log", "log2", "log10", "exp")
} | {"min": min, "max": max, "abs": abs, "round": round}


def _walk(figures, dotted):
    value = figures
    for key in dotted.split("."):
        assert isinstance(value, dict) and key in value, f"no figure {dotted!r}"
        value = value[key]
    return value


def test_the_bank_is_well_formed():
    ids = [q["id"] for q in QUESTIONS]
    assert len(ids) == len(set(ids)) and len(ids) >= 6
    assert sum(q["kind"] == "numeric" for q in QUESTIONS) >= 3
    for q in QUESTIONS:
        assert q["kind"] in {"numeric", "choice", "short", "open"}, q["id"]
        assert q["step"] in STEPS, q["id"]
        names = {f for _, f, _, _ in string.Formatter().parse(q["prompt"]) if f}
        assert names <= set(q.get("figures", {})), (q["id"], names)
        if q["kind"] == "numeric":
            assert q["figures"] and q["answer"] and q["tolerance"], q["id"]
        if q["kind"] == "choice":
            assert 0 <= q["answer"] < len(q["options"]), q["id"]
        if q["kind"] == "open":
            assert 3 <= len(q["rubric"]) <= 6 and q["model_answer"], q["id"]


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(lab_run.SCALE, "tiny", 0.05)  # timed sizes 20x smaller
        patch.setattr(complexity, "MIN_SAMPLE_S", 0.0002)
        results = Results(
            "algorithms", "Algorithms", root=tmp_path_factory.mktemp("results")
        )
        lab_run.run(results, preset="tiny")
    return results.figures


@pytest.mark.extended
def test_every_figure_comes_from_the_run_and_every_answer_computes(figures):
    for q in QUESTIONS:
        values = {}
        for name, ref in q.get("figures", {}).items():
            lab, _, path = ref.partition(":")
            assert lab == "algorithms", (q["id"], ref)
            values[name] = _walk(figures, path)
            assert isinstance(values[name], (int, float)), (q["id"], ref)
        q["prompt"].format(**values)
        q.get("explain", "").format(**values)
        q.get("model_answer", "").format(**values)
        if q["kind"] == "numeric":
            answer = eval(q["answer"], {"__builtins__": {}}, MATH | values)
            assert math.isfinite(answer) and answer > 0, (q["id"], answer)

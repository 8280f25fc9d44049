"""The lab's interview bank (``labs/llm_serving/interview.toml``): every question
is well formed, and every figure a question uses is written by this lab's
own ``run`` (checked statically here: each key of each figure path is a key
the run's code records; the extended test runs ``run`` at the tiny preset).
Not a milestone test: it checks the bank, not a candidate's code.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from common.interview.bank import load_bank
from labs.llm_serving import run as lab_run

LAB = Path(lab_run.__file__).parent
BANK = LAB / "interview.toml"
QUESTIONS = tomllib.loads(BANK.read_text())["question"]
# The modules whose dicts end up in the run's figures.
SOURCES = "".join(
    (LAB / name).read_text()
    for name in ("run.py", "measure.py", "study.py", "load_metrics.py")
)


def test_the_bank_loads_and_has_numeric_questions():
    questions = load_bank(BANK, "llm_serving")
    assert len(questions) >= 6
    assert sum(q["kind"] == "numeric" for q in QUESTIONS) >= 4


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q["id"])
def test_every_figure_is_a_key_the_run_records(question):
    for ref in question.get("figures", {}).values():
        lab, _, path = ref.partition(":")
        assert lab == "llm_serving", ref
        first, *rest = path.split(".")
        added = re.search(r'results\.add\(\s*"' + re.escape(first) + '"', SOURCES)
        assert added, f"run.py never records {first!r}"
        for key in rest:
            if key.isdigit() or key in ("static", "continuous", "paged"):
                continue
            assert f'"{key}"' in SOURCES, f"{ref}: no code records the key {key!r}"


@pytest.mark.extended
def test_every_figure_comes_from_a_tiny_run(tmp_path):
    from common.interview.figures import Figures  # noqa: F401  (the round's reader)
    from common.results import Results

    results = Results("llm_serving", "LLM serving", root=tmp_path)
    lab_run.run(results, preset="tiny")
    for q in QUESTIONS:
        for ref in q.get("figures", {}).values():
            node = results.figures
            for key in ref.partition(":")[2].split("."):
                node = node[key]
            assert isinstance(node, (int, float)) and math.isfinite(node), ref

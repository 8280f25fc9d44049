"""The task a drill shows: the function's head from the reference, and the brief's paragraph."""

from pathlib import Path

import pytest
from rich.console import Console

from common.interview.catalog import find_drill
from common.interview.task import brief_paragraph, function_head, show_task
from common.kit.manifest import Kit

BRIEF = """# Toy lab

| milestone | files | checked against |
|---|---|---|
| **m1 add** | `arith.py`: `add` | integers |
| m2 | `arith.py`: `mean` | the definition |

### m2 — Mean of a list

Divide the total by the count.
An empty list is an error.

#### A detail of m2
Still part of m2's section.

## Another section
Not m2.

**m3 — Count down.** A while loop
that decrements.

- **m1.** Also mentioned in a bullet.
"""


@pytest.fixture
def toy(kit):
    (kit.labs_dir / "toy" / "README.md").write_text(BRIEF)
    return kit.lab("toy")


def test_a_heading_section_is_preferred_and_ends_at_the_next_heading_of_its_level(toy):
    assert brief_paragraph(toy, "m2") == (
        "### m2 — Mean of a list\n\nDivide the total by the count.\n"
        "An empty list is an error.\n\n#### A detail of m2\nStill part of m2's section."
    )


def test_a_bold_paragraph_then_a_table_row_then_a_bullet(toy):
    assert (
        brief_paragraph(toy, "m3")
        == "**m3 — Count down.** A while loop\nthat decrements."
    )
    assert brief_paragraph(toy, "m1") == (
        "milestone: **m1 add**\nfiles: `arith.py`: `add`\nchecked against: integers"
    )
    (toy.package_dir / "README.md").write_text("- m1: a bullet\n  that goes on\n- m2\n")
    assert brief_paragraph(toy, "m1") == "- m1: a bullet\n  that goes on"


def test_without_a_mention_the_milestone_title_stands_in(toy):
    (toy.package_dir / "README.md").write_text("# Toy\nm10 is not m1.\n| m10 | x |\n")
    assert brief_paragraph(toy, "m1") == "Add two numbers"


def test_the_function_head_is_the_reference_signature_and_docstring_without_markers():
    lab = Kit().lab("transformer")
    region = lab.named_regions()["attention:attention_weights"]
    head = function_head(region.path, region.function)
    assert head.startswith("def attention_weights(\n    q: Tensor,")
    assert head.endswith('"""') and "Weights of shape" in head
    assert "SOLUTION" not in head and "scores =" not in head


def test_a_method_head_is_dedented_and_a_second_region_says_which_part():
    console = Console(record=True, width=200)
    drill = find_drill(Kit(), "transformer/layers:MultiHeadAttention.forward#2")
    show_task(drill, Path("/drill/transformer"), console)
    shown = " ".join(console.export_text().split())
    assert "def forward( self, x: Tensor," in shown
    assert "(the part of MultiHeadAttention.forward marked TODO(m2)" in shown
    assert "Edit: /drill/transformer/layers.py" in shown
    assert "From the brief (m2): milestone: **m2 blocks**" in shown


def test_the_task_shows_no_code_of_the_function_body(labkit):
    shown = labkit("drill", "start", "toy/arith:countdown")
    assert 'def countdown(n): """Return [n, n-1, ..., 1]."""' in shown.text
    assert "out = []" not in shown.text

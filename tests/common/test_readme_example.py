"""The README's `labkit check` example is what `labkit check` prints today.

The example is a real check of `feature_store` with m1 done (its regions
from the reference) and m2..m5 still stubs, rendered as the CLI renders it,
with the workspace path shortened. When the output changes on purpose,
regenerate the README's block with
``LABKIT_UPDATE_README=1 pytest tests/common/test_readme_example.py``.
"""

import io
import os
import re
from pathlib import Path

import pytest
from rich.console import Console

from common.kit import check
from common.kit.manifest import Kit
from common.kit.starter import write_starter

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"(<!-- check-example -->\n```\n)(.*?)(```\n)", re.DOTALL)

pytestmark = [pytest.mark.extended, pytest.mark.timeout(300)]


def test_the_readme_check_example_is_real_output(tmp_path):
    kit = Kit(workspace=tmp_path / "workspace")
    lab = kit.lab("feature_store")
    later = {m.id for m in lab.milestones} - {"m1"}
    write_starter(lab, kit.workspace_lab(lab), stub=later)
    report = check.check(kit, lab)
    buffer = io.StringIO()
    check.render(report, Console(file=buffer, width=200, no_color=True, soft_wrap=True))
    # The path is shown relative to the current folder when that is short
    # (a checkout next to the temporary folder), absolute otherwise.
    shown = (
        buffer.getvalue()
        .replace(str(kit.workspace), "workspace")
        .replace(os.path.relpath(kit.workspace), "workspace")
    )
    shown = re.sub(r"^ +(\S+\.py:\d+)$", r"  \1", shown, flags=re.MULTILINE)
    text = README.read_text()
    match = BLOCK.search(text)
    assert match, "README.md has no <!-- check-example --> block"
    if os.environ.get("LABKIT_UPDATE_README") == "1":
        README.write_text(text[: match.start(2)] + shown + text[match.end(2) :])
        return
    assert match.group(2) == shown, (
        "README's check example is out of date; regenerate it with "
        "LABKIT_UPDATE_README=1 pytest tests/common/test_readme_example.py"
    )

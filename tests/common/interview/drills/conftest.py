"""Drills on a private copy of the harness's fixture kit (labs `toy` and `weak`)."""

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from common.kit import cli, cli_shell
from common.kit.manifest import Kit
from common.kit.regions import stub_lines

FIXTURE = Path(__file__).parents[2] / "kit" / "fixture_kit"


@pytest.fixture
def kit(tmp_path: Path, monkeypatch) -> Kit:
    """A copy of the fixture kit, an empty workspace, and results in tmp_path."""
    root = tmp_path / "kit"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("LABKIT_RESULTS", str(tmp_path / "results"))
    return Kit(root=root, package="fixturelabs", workspace=tmp_path / "workspace")


@pytest.fixture
def labkit(kit, monkeypatch):
    """Run a `labkit` command on the fixture kit; returns click's Result."""
    monkeypatch.setattr(cli_shell, "load_kit", lambda workspace_path: kit)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(
            cli.app, list(args), catch_exceptions=False, env={"COLUMNS": "200"}
        )
        # One line of words: wrapping and table borders removed.
        words = re.sub(r"[│┃]", " ", result.output).split()
        result.text = " ".join(words)  # type: ignore[attr-defined]
        return result

    return invoke


def _paste_reference(drill, folder: Path) -> None:
    """Paste each stubbed region's reference body back into the drill copy."""
    titles = {m.id: m.title for m in drill.lab.milestones}
    for region in drill.region_objects.values():
        reference = region.path.read_text().splitlines(keepends=True)
        body = "".join(reference[region.begin : region.end - 1])
        stub = "".join(stub_lines(region, drill.lab.id, titles))
        copy = folder / region.path.relative_to(drill.lab.package_dir)
        text = copy.read_text()
        assert text.count(stub) == 1, f"the stub of {region.function} is not in {copy}"
        copy.write_text(text.replace(stub, body))


@pytest.fixture
def paste_reference():
    return _paste_reference

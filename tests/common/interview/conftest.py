import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from common.interview import scenarios
from common.kit import cli, cli_shell
from common.kit.manifest import Kit

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    """Fixture labs alpha and beta (design banks), experiments and classical_ml
    (concept checks), and the fixture scenarios."""
    return Kit(root=FIXTURES / "kit", package="ixlabs", workspace=tmp_path / "ws")


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private results folder holding alpha's run (beta has not run)."""
    root = tmp_path / "results"
    shutil.copytree(FIXTURES / "results", root)
    monkeypatch.setenv("LABKIT_RESULTS", str(root))
    return root


@pytest.fixture
def labkit(kit, results, monkeypatch, wide_cli_consoles):
    """``labkit ...`` on the fixture kit; returns the CliRunner result."""
    monkeypatch.setattr(cli_shell, "load_kit", lambda workspace_path: kit)
    monkeypatch.setattr(scenarios, "SCENARIOS_PATH", FIXTURES / "scenarios.toml")
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(
            cli.app,
            list(args),
            input=input,
            catch_exceptions=False,
            env={"COLUMNS": "200"},
        )

    return invoke

"""Fixtures shared by the harness's and interview mode's CLI tests."""

import pytest

from common.kit import cli_shell


@pytest.fixture
def wide_cli_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's consoles wide enough that no message wraps.

    They read COLUMNS when the CLI is imported, so CliRunner's ``env`` only
    reaches a fresh interpreter; on a pytest-xdist worker (no terminal) they
    would wrap at 80 columns.
    """
    for shared in (cli_shell.console, cli_shell.err):
        monkeypatch.setattr(shared, "_width", 200)

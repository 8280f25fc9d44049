"""The ``labkit`` command line.

    labkit list | start | check | hint | diff | watch | reset | restore | status
    labkit run | bench | demo | data | report | verify
    labkit interview design | stats | ml | coding | end

The commands live in modules by job and register on one Typer app
(``cli_shell.app``): the candidate's loop in ``cli_loop``, the measured steps
in ``cli_steps``, the mock rounds in ``cli_interview``. Each is a thin wrapper over a function in ``common.kit``.
"""

from __future__ import annotations

from common.kit import (  # noqa: F401 - they register commands
    cli_interview,
    cli_loop,
    cli_steps,
)
from common.kit.cli_shell import app

__all__ = ["app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()

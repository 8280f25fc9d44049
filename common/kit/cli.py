"""The ``labkit`` command line.

    labkit list | start | check | hint | diff | watch | reset | restore | status
    labkit run | bench | demo | data | report | verify
    labkit drill list | next | start | check | hint | give-up | status
    labkit interview design | stats | ml | coding | end

The commands live in modules by job and register on one Typer app
(``cli_shell.app``): the candidate's loop in ``cli_loop``, the measured steps
in ``cli_steps``, drills in ``cli_drill``, the mock rounds in
``cli_interview``. Each is a thin wrapper over a function in ``common.kit``
or ``common.interview``.
"""

from __future__ import annotations

# importing them registers their commands
from common.kit import cli_drill, cli_interview, cli_loop, cli_steps  # noqa: F401
from common.kit.cli_shell import app

__all__ = ["app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""What every ``labkit`` command shares: the app, its consoles, options, the kit.

Errors a person can fix (:class:`KitError`) are caught in one place,
:class:`_KitGroup`, and printed as one red line with exit code 2; anything
else is a bug in the kit and keeps its traceback. Commands live in modules by
job (``cli_loop``, ``cli_steps``, ...) and register on :data:`app`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from common.kit.errors import KitError
from common.kit.manifest import Kit, default_kit

console = Console()
err = Console(stderr=True)


class _KitGroup(TyperGroup):
    """Print a :class:`KitError` as one line and exit 2, for every command."""

    def invoke(self, ctx: Any) -> Any:  # click's Context, vendored by typer
        try:
            return super().invoke(ctx)
        except KitError as exc:
            # escaped: messages quote TOML tables and paths, which rich would read as markup
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(code=2) from None


app = typer.Typer(
    cls=_KitGroup,
    help="labkit: build ML systems on real components, milestone by milestone.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

WorkspaceOpt = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        envvar="LABKIT_WORKSPACE",
        help="Where your labs live (default: workspace/ in the kit's folder). Data, "
        "results and hypothesis' examples stay in the kit's folder (move them with "
        "LABKIT_DATA and LABKIT_RESULTS).",
    ),
]
PresetOpt = Annotated[
    str | None, typer.Option(help="ShopStream size: tiny, small or large.")
]
LabArg = Annotated[str, typer.Argument(metavar="LAB")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also print pytest's full output.")
]


def load_kit(workspace_path: str | None) -> Kit:
    """The kit, with the workspace from ``--workspace`` or the environment."""
    return default_kit(workspace_path)


def repo_kit() -> Kit:
    """The kit of this repository (for commands that need no workspace)."""
    return Kit()

"""The workspace overlay: ``import labs.<lab>`` finds the candidate's copy.

While ``labkit check <lab>`` runs, the environment variable ``LABKIT_OVERLAY``
maps a lab's import name to its workspace folder, e.g.
``{"labs.feature_store": "/home/me/labkit/workspace/feature_store"}``. Importing
the ``labs`` package installs a finder that serves exactly those packages from
the workspace; every other lab still comes from the reference.

Because the mapping travels in the environment, it also holds in processes the
tests start: a uvicorn server, Ray workers, a locust runner. Without the
variable (plain ``pytest``) nothing changes and the reference is tested.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

ENV_VAR = "LABKIT_OVERLAY"


class WorkspaceFinder(importlib.abc.MetaPathFinder):
    """Serve the overlaid lab packages from the workspace; decline the rest."""

    def __init__(self, mapping: Mapping[str, Path]):
        self.mapping = dict(mapping)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        folder = self.mapping.get(fullname)
        if folder is None:
            # Sub-modules resolve through the package's __path__, which already
            # points at the workspace folder.
            return None
        init = folder / "__init__.py"
        if not init.exists():
            raise ImportError(
                f"{fullname} is overlaid by {folder}, but {init} is missing; run "
                f"`labkit start {fullname.rsplit('.', 1)[-1]}` or `labkit reset` to "
                "restore it."
            )
        return importlib.util.spec_from_file_location(
            fullname, init, submodule_search_locations=[str(folder)]
        )


def encode(mapping: Mapping[str, Path]) -> str:
    """The ``LABKIT_OVERLAY`` value for a module-name → folder mapping."""
    return json.dumps(
        {name: str(Path(folder).resolve()) for name, folder in mapping.items()}
    )


def overlay_env(
    mapping: Mapping[str, Path], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A copy of ``base`` (default: this process's environment) with the overlay set."""
    env = dict(os.environ if base is None else base)
    if mapping:
        env[ENV_VAR] = encode(mapping)
    else:
        env.pop(ENV_VAR, None)
    return env


def install_from_env() -> WorkspaceFinder | None:
    """Install the finder described by ``LABKIT_OVERLAY``, once per process."""
    raw = os.environ.get(ENV_VAR)
    if not raw:
        return None
    for finder in sys.meta_path:
        if isinstance(finder, WorkspaceFinder):
            return finder
    try:
        mapping = {name: Path(folder) for name, folder in json.loads(raw).items()}
    except (ValueError, AttributeError) as exc:
        raise RuntimeError(
            f"{ENV_VAR} must be a JSON object of module name to folder, got {raw!r}."
        ) from exc
    finder = WorkspaceFinder(mapping)
    sys.meta_path.insert(0, finder)
    return finder

"""Where the kit keeps generated data, results and the candidate's workspace.

Every path can be moved with an environment variable so tests, CI and a
candidate's laptop never step on each other:

- ``LABKIT_DATA``       generated datasets, feature stores, model registry (``data/``)
- ``LABKIT_RESULTS``    measured results and reports (``results/``)
- ``LABKIT_WORKSPACE``  the candidate's copies of the labs (``workspace/``)

Relative defaults are resolved against the repository root, not the current
directory, so ``labkit`` behaves the same wherever it is run from.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _resolve(env_var: str, default: str) -> Path:
    value = os.environ.get(env_var)
    if value:
        return Path(value).expanduser().resolve()
    return (REPO_ROOT / default).resolve()


def data_dir() -> Path:
    """Generated data: ShopStream datasets, feature stores, the model registry."""
    return _resolve("LABKIT_DATA", "data")


def results_dir() -> Path:
    """Measured results: one folder per lab plus ``REPORT.md``."""
    return _resolve("LABKIT_RESULTS", "results")


def workspace_dir() -> Path:
    """The candidate's workspace: one folder per started lab."""
    return _resolve("LABKIT_WORKSPACE", "workspace")

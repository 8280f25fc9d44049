"""The measured steps: ``labkit run``, ``bench``, ``demo`` and the data page.

A lab's ``lab.toml`` names its ``run`` and ``bench`` functions; each takes a
:class:`~common.results.Results` to record into, plus keyword options
(``preset``). Steps run in this process; the candidate's code is used instead
of the reference when the overlay is set (``--mine``).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common.kit.errors import KitError
from common.kit.manifest import Kit, Lab
from common.kit.overlay import ENV_VAR, encode, install_from_env
from common.kit.workspace import Progress, WorkspaceError
from common.results import Results


def use_workspace(kit: Kit, labs: list[Lab]) -> None:
    """Make ``import labs.<lab>`` load the workspace copy of ``labs`` (``--mine``)."""
    loaded = [lab.module for lab in labs if lab.module in sys.modules]
    if loaded:
        raise RuntimeError(f"{loaded} were imported before the overlay was set.")
    mapping = {lab.module: kit.workspace_lab(lab) for lab in labs}
    for lab in labs:
        if not (kit.workspace_lab(lab) / "__init__.py").exists():
            raise WorkspaceError(
                f"lab {lab.id!r} is not started; run `labkit start {lab.id}`."
            )
    os.environ[ENV_VAR] = encode(mapping)  # inherited by Ray workers and servers
    install_from_env()


def completed_labs(kit: Kit) -> list[Lab]:
    """Workspace labs whose every milestone passed at the last check."""
    progress = Progress.load(kit)
    return [
        lab
        for lab in kit.labs
        if kit.workspace_lab(lab).exists()
        and progress.passed(lab.id) >= {m.id for m in lab.milestones}
    ]


def unimplemented(kit: Kit, lab: Lab) -> list[str]:
    """Milestones whose stub still stands somewhere in the candidate's copy."""
    folder = kit.workspace_lab(lab)
    text = "\n".join(
        path.read_text(errors="replace") for path in sorted(folder.rglob("*.py"))
    )
    return [
        m.id
        for m in lab.milestones
        if re.search(rf"raise NotImplementedError\(['\"]{lab.id} {m.id}\b", text)
    ]


def run_step(
    lab: Lab, kind: str, *, missing: Iterable[str] = (), **options: Any
) -> Results:
    """Import the lab's ``run``/``bench`` function, call it, write its page.

    Args:
        missing: milestones the code run does not implement yet (``--mine``);
            the lab skips what needs them (``Results.needs``).

    Raises:
        KitError: the run reached a stub; the message names the milestone.
    """
    function = lab.entry_point(kind)
    results = Results(lab.id, lab.title, kind=kind)
    results.missing = frozenset(missing)
    try:
        function(results, **{k: v for k, v in options.items() if v is not None})
    except NotImplementedError as exc:
        results.skipped.append(f"stopped early: {exc}")
        page = results.write()
        stubs = ", ".join(sorted(results.missing)) or "none found"
        raise KitError(
            f"`labkit {kind} {lab.id}` reached code your copy does not implement "
            f"yet ({exc}). Milestones still stubbed in your copy: {stubs}. Finish "
            f"them (`labkit check {lab.id}`), or measure the reference: "
            f"`labkit {kind} {lab.id}`. What ran is on {page}."
        ) from None
    results.write()
    return results


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to fd 1 (ours and child processes') to stderr.

    ``bench --json`` promises that stdout holds only the JSON object.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def data_step(preset: str, seed: int = 0) -> tuple[dict[str, Any], Path]:
    """Generate (or reuse) the ShopStream dataset and write its results page."""
    from common import shopstream

    started = time.perf_counter()
    dataset = shopstream.load(preset=preset, seed=seed)
    summary = shopstream.summarize(dataset)
    results = Results("data", "ShopStream data", kind="run")
    for name, value in summary.items():
        results.add(name, value)
    results.add("load_or_generate_s", round(time.perf_counter() - started, 2))
    results.text(
        f"Preset `{preset}`, seed {seed}. The dataset every pipeline lab reads: users, "
        "items and impressions with click labels, event and ingestion timestamps, "
        "late and malformed rows, and the hidden click probability that gives the "
        "Bayes-optimal AUC."
    )
    results.table(
        [
            {"figure": k, "value": v}
            for k, v in summary.items()
            if not isinstance(v, (dict, list))
        ]
    )
    return summary, results.write()

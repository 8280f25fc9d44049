"""Gather every lab's results page into one design-review document.

``labkit report`` (and the end of ``labkit demo``) writes ``results/REPORT.md``:
the machine, a table of contents, then each lab's run and benchmark pages in
pipeline order, with headings shifted down one level and plot links made
relative to ``results/``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from common import machine
from common.paths import results_dir
from common.results import PAGE_NAMES

_IMAGE = re.compile(r"\]\(plots/")


def _demote(markdown: str, lab: str) -> str:
    lines = []
    for line in markdown.splitlines():
        if line.startswith("#"):
            line = "#" + line
        lines.append(line)
    return _IMAGE.sub(f"]({lab}/plots/", "\n".join(lines))


def gather(order: Sequence[str], root: Path | None = None) -> Path:
    """Write ``REPORT.md`` from the pages under ``root`` (default ``results/``).

    Args:
        order: folder names in the order they should appear (e.g. ``data`` then
            the labs by pipeline order); other folders with pages follow.
    """
    root = root or results_dir()
    root.mkdir(parents=True, exist_ok=True)
    present = sorted(p.name for p in root.iterdir() if p.is_dir())
    folders = [f for f in order if f in present] + [
        f for f in present if f not in order
    ]
    sections: list[tuple[str, str]] = []
    for folder in folders:
        for kind in ("run", "bench"):
            page = root / folder / PAGE_NAMES[kind][1]
            if page.exists():
                text = page.read_text()
                title = text.splitlines()[0].lstrip("# ").strip() if text else folder
                sections.append((title, _demote(text, folder)))
    out = ["# labkit report", f"_Machine: {machine.one_line()}._", ""]
    if sections:
        out.append("## Contents\n")
        out += [f"- {title}" for title, _ in sections]
        out += ["", *(body + "\n" for _, body in sections)]
    else:
        out.append("No results yet: run `labkit run <lab>` or `labkit demo`.")
    path = root / "REPORT.md"
    path.write_text("\n".join(out) + "\n")
    return path

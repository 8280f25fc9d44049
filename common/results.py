"""Measured results: named figures, tables, plots and prose for one lab.

``labkit run <lab>`` and ``labkit bench <lab>`` hand a :class:`Results` to the
lab, which records what it measured; the harness then writes
``results/<lab>/results.json`` (or ``bench.json``) with the machine's
description, a Markdown page (``README.md`` or ``bench.md``) and PNG plots.
Nothing here invents a number: a page shows only what the lab recorded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from common import machine
from common.paths import results_dir

PAGE_NAMES = {
    "run": ("results.json", "README.md"),
    "bench": ("bench.json", "bench.md"),
    # `labkit bench --mine`: the candidate's copy beside the reference, one run
    "compare": ("bench-vs-reference.json", "bench-vs-reference.md"),
}


def fmt(value: Any) -> str:
    """Format a number for a table: 3 significant figures, thousands separated."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or (abs(value) >= 1000 and float(value).is_integer()):
        return f"{int(value):,}"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"


def markdown_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> str:
    """Rows of dicts as a GitHub Markdown table."""
    if not rows:
        return "_(no rows)_"
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [
        "| " + " | ".join(fmt(row.get(c)) for c in columns) + " |" for row in rows
    ]
    return "\n".join(lines)


class Results:
    """Collects what a lab measured and writes it under ``results/<lab>/``."""

    def __init__(
        self, lab: str, title: str, kind: str = "run", root: Path | None = None
    ):
        if kind not in PAGE_NAMES:
            raise ValueError(f"kind must be one of {sorted(PAGE_NAMES)}, got {kind!r}.")
        self.lab, self.title, self.kind = lab, title, kind
        self.dir = (root or results_dir()) / lab
        self.figures: dict[str, Any] = {}
        self._blocks: list[str] = []
        # Milestones the measured code does not implement yet (a candidate's
        # copy, `--mine`); empty for the reference. See `needs`.
        self.missing: frozenset[str] = frozenset()
        self.skipped: list[str] = []

    def needs(self, *milestones: str, what: str) -> bool:
        """Whether the code measured implements ``milestones``; if not, note a skip.

        ``if results.needs("m5", what="the stage histograms"): ...`` lets a
        lab's run measure what a candidate has done so far, with later
        features off, and say on the page what it skipped and why.
        """
        lacking = sorted(set(milestones) & self.missing)
        if lacking:
            self.skipped.append(
                f"{what}: needs {', '.join(lacking)}, still a stub in the code measured"
            )
        return not lacking

    def add(self, name: str, value: Any) -> Any:
        """Record a named figure (JSON-able) and return it."""
        self.figures[name] = value
        return value

    def text(self, markdown: str) -> None:
        self._blocks.append(markdown.strip())

    def table(
        self,
        rows: Sequence[Mapping[str, Any]],
        title: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> None:
        block = f"### {title}\n\n" if title else ""
        self._blocks.append(block + markdown_table(rows, columns))

    @contextmanager
    def plot(
        self, name: str, caption: str, figsize: tuple[float, float] = (6.4, 4.0)
    ) -> Iterator[Any]:
        """``with results.plot("latency", "Latency by load") as ax: ax.plot(...)``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=figsize)
        try:
            yield ax
            fig.tight_layout()
            path = self.dir / "plots" / f"{self.kind}-{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110)
        finally:
            plt.close(fig)
        self._blocks.append(f"![{caption}](plots/{path.name})\n\n_{caption}_")

    def write(self) -> Path:
        """Write the JSON and the Markdown page; return the page's path."""
        self.dir.mkdir(parents=True, exist_ok=True)
        json_name, page_name = PAGE_NAMES[self.kind]
        description = machine.describe()
        payload = {
            "lab": self.lab,
            "kind": self.kind,
            "figures": self.figures,
            "skipped": self.skipped,
            "machine": description,
        }
        (self.dir / json_name).write_text(
            json.dumps(payload, indent=2, default=str) + "\n"
        )
        heading = {
            "run": self.title,
            "bench": f"{self.title}: benchmark",
            "compare": f"{self.title}: your benchmark beside the reference's",
        }[self.kind]
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        page = [
            f"# {heading}",
            f"_Measured {stamp} on {machine.one_line(description)}._",
            *self._blocks,
        ]
        if self.skipped:
            page.append(
                "### Skipped\n\n" + "\n".join(f"- {line}" for line in self.skipped)
            )
        path = self.dir / page_name
        path.write_text("\n\n".join(page) + "\n")
        return path

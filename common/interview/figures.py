"""The candidate's own figures, read from ``results/<lab>/results.json``.

    figures = Figures()                                   # results_dir() by default
    figures.value("load_testing:variants.batching_on.knee_rps")   # -> 612.5
    figures.value("feature_store:lookup_p99_ms")           # MissingFigure if not run

A reference is ``<lab>:<dotted path>`` into the ``"figures"`` object that
``labkit run <lab>`` writes; each dot walks one level of nested objects. A
path segment matches a key when both are equal after lower-casing and turning
spaces and hyphens into underscores, so ``batching_on.knee_rps`` finds the
run's ``"batching on"`` → ``"knee rps"`` and bank files need no quoting.

A key that itself holds a dot (``"open loop, 1.5× capacity"``) is matched
whole: the longest run of segments that names a key wins.

A figure that cannot be read raises :class:`MissingFigure`, whose message
says which ``labkit run`` writes it: the round skips the question, names the
command and (when interactive) offers to run it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.kit.errors import KitError
from common.paths import results_dir

REFERENCE = re.compile(r"^(?P<lab>[a-z][a-z0-9_]*):(?P<path>[^.\s][^:]*)$")


class MissingFigure(KitError, LookupError):
    """A figure a question needs is not in the candidate's results."""

    def __init__(self, reference: str, lab: str, reason: str):
        self.reference, self.lab, self.reason = reference, lab, reason
        super().__init__(
            f"the figure {reference} is missing: {reason}. `labkit run {lab}` "
            f"writes it (or `labkit demo`, which runs every lab)."
        )


def split_reference(reference: str) -> tuple[str, list[str]]:
    """``"lab:a.b"`` -> ``("lab", ["a", "b"])``; ``ValueError`` if malformed."""
    match = REFERENCE.match(reference) if isinstance(reference, str) else None
    if not match or any(not part for part in match["path"].split(".")):
        raise ValueError(
            f"{reference!r} is not a figure reference; write <lab>:<dotted path>, "
            "e.g. load_testing:variants.batching_on.knee_rps."
        )
    return match["lab"], match["path"].split(".")


def _norm(key: str) -> str:
    return re.sub(r"[\s\-]+", "_", key.strip().lower())


@dataclass
class Figures:
    """Reads (and caches) each lab's ``results.json`` under ``root``."""

    root: Path = field(default_factory=results_dir)
    _loaded: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def path(self, lab: str) -> Path:
        return self.root / lab / "results.json"

    def _figures(self, reference: str, lab: str) -> dict[str, Any]:
        if lab in self._loaded:
            return self._loaded[lab]
        path = self.path(lab)
        if not path.exists():
            raise MissingFigure(reference, lab, f"{path} does not exist yet")
        try:
            figures = json.loads(path.read_text()).get("figures")
        except (json.JSONDecodeError, AttributeError, OSError) as exc:
            raise MissingFigure(
                reference, lab, f"{path} cannot be read ({exc}); run the lab again"
            ) from None
        if not isinstance(figures, dict):
            raise MissingFigure(reference, lab, f"{path} holds no figures")
        self._loaded[lab] = figures
        return figures

    def value(self, reference: str) -> float:
        """The number at ``reference`` (see the module doc).

        Raises:
            ValueError: the reference is malformed (a bank's mistake).
            MissingFigure: the file, the path or a usable number is missing.
        """
        lab, parts = split_reference(reference)
        node: Any = self._figures(reference, lab)
        walked: list[str] = []
        while parts:
            if not isinstance(node, dict):
                raise MissingFigure(
                    reference,
                    lab,
                    f"{'.'.join(walked)} is a value, not a group of figures",
                )
            keys = {_norm(str(key)): key for key in node}
            # a key may hold a dot itself ("open loop, 1.5× capacity"): longest first
            taken = next(
                (
                    n
                    for n in range(len(parts), 0, -1)
                    if _norm(".".join(parts[:n])) in keys
                ),
                0,
            )
            if not taken:
                where = ".".join(walked) or "the top level"
                shown = ", ".join(sorted(map(str, node))[:12])
                raise MissingFigure(
                    reference,
                    lab,
                    f"{self.path(lab)} has no {parts[0]!r} at {where} (it has: {shown}); "
                    "it may come from an older kit or a run that skipped that part",
                )
            segment = ".".join(parts[:taken])
            node = node[keys[_norm(segment)]]
            walked.append(segment)
            parts = parts[taken:]
        if isinstance(node, bool) or not isinstance(node, (int, float)):
            raise MissingFigure(
                reference, lab, f"your run recorded {node!r} there, not a number"
            )
        if not math.isfinite(node):
            raise MissingFigure(
                reference,
                lab,
                f"your run recorded {node} there (nothing measured, e.g. no step "
                "met the SLO); look at results/" + lab + "/README.md",
            )
        return node

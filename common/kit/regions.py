"""Solution regions: the fenced parts of reference code a candidate writes.

A lab's reference implementation marks each exercise inside a function body::

    def point_in_time_join(entity_df, feature_rows, ttl):
        \"\"\"The docstring stays in the starter.\"\"\"
        # BEGIN SOLUTION m3: join each entity row to its latest feature row
        ...reference code...
        # END SOLUTION

The text after the colon is optional; it becomes the TODO line and the
``NotImplementedError`` message (the milestone's title is used without it).
``# END SOLUTION m3`` may repeat the id; if it does, it must match.

The starter replaces each region with a TODO comment and
``raise NotImplementedError("<lab> m3: <what to implement>")`` at the marker's
indentation. Malformed markers (unclosed, nested, unknown milestone, outside a
function body) raise :class:`RegionError` naming the file and line.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from common.kit.errors import KitError

_BEGIN = re.compile(
    r"^(?P<indent>[ \t]*)# BEGIN SOLUTION (?P<mid>m\d+)(?::\s*(?P<desc>.*?))?\s*$"
)
_END = re.compile(r"^[ \t]*# END SOLUTION(?: (?P<mid>m\d+))?\s*$")
# Anything that looks like a marker but is not exactly one is an error, not code.
_LOOSE = re.compile(r"(BEGIN|END)[ _]SOLUTION", re.IGNORECASE)


def is_marker(line: str) -> bool:
    """Whether ``line`` is a BEGIN or END marker (not shown to candidates)."""
    return bool(_BEGIN.match(line) or _END.match(line))


class RegionError(KitError, ValueError):
    """A solution marker is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Region:
    """One fenced exercise: lines ``begin``..``end`` (1-based, inclusive of markers)."""

    path: Path
    milestone: str
    begin: int
    end: int
    indent: str
    description: str | None
    function: str  # qualified name of the enclosing function, e.g. "OnlineStore.read"


def parse_regions(
    source: str, path: Path, milestones: Collection[str] | None = None
) -> list[Region]:
    """Find every solution region in ``source``.

    Args:
        source: the Python source text.
        path: the file's path, used in error messages.
        milestones: the milestone ids the lab declares; a region naming any other
            id is an error. ``None`` skips that check.

    Raises:
        RegionError: on an unclosed, nested, unmatched, mislabeled or misplaced
            marker.
    """
    regions: list[Region] = []
    open_: tuple[int, str, str, str | None] | None = None
    for lineno, line in enumerate(source.splitlines(), start=1):
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin:
            mid = begin["mid"]
            if open_ is not None:
                raise RegionError(
                    f"{path}:{lineno}: nested '# BEGIN SOLUTION {mid}' while region "
                    f"{open_[1]} opened at line {open_[0]} is still open; close it "
                    "with '# END SOLUTION' first (regions cannot nest)."
                )
            if milestones is not None and mid not in milestones:
                raise RegionError(
                    f"{path}:{lineno}: region names milestone {mid!r}, but lab.toml "
                    f"declares only {sorted(milestones)}; fix the id in the marker."
                )
            open_ = (lineno, mid, begin["indent"], begin["desc"] or None)
        elif end:
            if open_ is None:
                raise RegionError(
                    f"{path}:{lineno}: '# END SOLUTION' without a matching "
                    "'# BEGIN SOLUTION mN' above it."
                )
            start, mid, indent, desc = open_
            if end["mid"] and end["mid"] != mid:
                raise RegionError(
                    f"{path}:{lineno}: '# END SOLUTION {end['mid']}' closes region "
                    f"{mid} opened at line {start}; the ids must match."
                )
            regions.append(Region(path, mid, start, lineno, indent, desc, ""))
            open_ = None
        elif _LOOSE.search(line):
            raise RegionError(
                f"{path}:{lineno}: malformed solution marker {line.strip()!r}; write "
                "exactly '# BEGIN SOLUTION mN' (optionally ': what to implement') "
                "or '# END SOLUTION'."
            )
    if open_ is not None:
        raise RegionError(
            f"{path}:{open_[0]}: region {open_[1]} is never closed; add "
            "'# END SOLUTION' after its last line."
        )
    return _attach_functions(source, path, regions)


def _attach_functions(source: str, path: Path, regions: list[Region]) -> list[Region]:
    """Name each region's enclosing function; a region outside one is an error."""
    if not regions:
        return regions
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise RegionError(
            f"{path}:{exc.lineno}: reference code does not parse: {exc.msg}"
        ) from exc
    functions = list(_functions(tree, prefix=""))
    placed = []
    for region in regions:
        enclosing = [
            (name, node)
            for name, node in functions
            # The BEGIN marker sits after the def line, within the body, indented
            # deeper than the def (the END marker may follow the last statement).
            if node.lineno < region.begin <= (node.end_lineno or 0)
            and len(region.indent.expandtabs()) > node.col_offset
        ]
        if not enclosing:
            raise RegionError(
                f"{path}:{region.begin}: region {region.milestone} is not inside a "
                "function body; the starter must import cleanly, so fence only code "
                "inside functions or methods."
            )
        innermost = max(enclosing, key=lambda pair: pair[1].lineno)[0]
        placed.append(
            Region(
                region.path,
                region.milestone,
                region.begin,
                region.end,
                region.indent,
                region.description,
                innermost,
            )
        )
    return placed


def _functions(
    node: ast.AST, prefix: str
) -> Iterable[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + child.name
            yield name, child
            yield from _functions(child, prefix=name + ".")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, prefix=prefix + child.name + ".")
        else:
            yield from _functions(child, prefix)


def stub_lines(region: Region, lab: str, titles: dict[str, str]) -> list[str]:
    """The starter's lines for ``region``: a TODO and a ``NotImplementedError``."""
    what = region.description or titles.get(region.milestone, "")
    message = f"{lab} {region.milestone}: {what}".rstrip(": ")
    return [
        f"{region.indent}# TODO({region.milestone}): {what}\n",
        f"{region.indent}raise NotImplementedError({message!r})\n",
    ]


def indent_body(body: str, indent: str) -> list[str]:
    """``body`` (written without indentation) as lines at ``indent``."""
    text = textwrap.dedent(body).strip("\n")
    return [(indent + line).rstrip() + "\n" for line in text.splitlines()]


def rewrite_source(
    source: str,
    regions: list[Region],
    replacement: Callable[[Region], list[str] | None],
) -> str:
    """Return ``source`` with each region's body replaced by ``replacement(region)``.

    A region for which ``replacement`` returns ``None`` keeps its reference
    code. Every marker line is dropped either way.
    """
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    cursor = 0  # index of the next unread line
    for region in sorted(regions, key=lambda r: r.begin):
        out.extend(lines[cursor : region.begin - 1])
        new = replacement(region)
        out.extend(lines[region.begin : region.end - 1] if new is None else new)
        cursor = region.end
    out.extend(lines[cursor:])
    return "".join(out)


def stub_source(
    source: str,
    regions: list[Region],
    lab: str,
    titles: dict[str, str],
    stub: Collection[str] | None = None,
) -> str:
    """Return ``source`` with the regions of the ``stub`` milestones replaced.

    Regions of other milestones keep their reference code (their markers are
    dropped). ``stub=None`` stubs every region: the full starter.
    """
    return rewrite_source(
        source,
        regions,
        lambda r: (
            stub_lines(r, lab, titles) if stub is None or r.milestone in stub else None
        ),
    )


def name_regions(module: str, regions: list[Region]) -> list[tuple[str, Region]]:
    """Each region of one module with its id, ``<module>:<function>``.

    A function that holds several regions numbers them in file order from the
    second on: ``layers:MultiHeadAttention.forward#2``. These ids name drills
    and the regions a known wrong answer replaces.
    """
    seen: dict[str, int] = {}
    named = []
    for region in sorted(regions, key=lambda r: r.begin):
        seen[region.function] = seen.get(region.function, 0) + 1
        suffix = f"#{seen[region.function]}" if seen[region.function] > 1 else ""
        named.append((f"{module}:{region.function}{suffix}", region))
    return named


def find_definition(tree: ast.Module, qualname: str) -> ast.AST | None:
    """The function or class ``qualname`` (``"Class.method"``) in ``tree``, if any."""
    nodes: list[ast.stmt] = tree.body
    found: ast.AST | None = None
    for part in qualname.split("."):
        found = next(
            (
                n
                for n in nodes
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and n.name == part
            ),
            None,
        )
        if found is None:
            return None
        nodes = found.body
    return found

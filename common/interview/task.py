"""What a candidate reads when a drill starts: the task, as an interviewer gives it.

For each region: the function's signature and docstring, read with ``ast``
from the reference (so they are exactly what the drill copy holds), and the
region's TODO line. For each milestone: its paragraph of the lab's brief,
found in ``README.md`` as, in this order of preference,

1. a heading that starts with the milestone id (``### m3 — Point-in-time join``):
   the section under it;
2. a paragraph that starts with it in bold (``**m3 — Resilience** ...``);
3. a table row whose first cell starts with it (``| **m1 attention** | ... |``):
   each cell under its column's header;
4. a bullet that starts with it (``- **m1.** ...`` or ``- m1: ...``);

and the milestone's title when the brief has none of these. Then the target
time, the file to edit and the commands.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax

from common.interview.catalog import Drill
from common.kit.manifest import Lab
from common.kit.regions import find_definition

MAX_BRIEF_LINES = 30
_HEADING = re.compile(r"^(#+)\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")


def _starts_with(text: str, milestone_id: str) -> bool:
    return bool(re.match(rf"^[\W_]*{re.escape(milestone_id)}\b", text))


def function_head(path: Path, qualname: str) -> str:
    """The function's decorators, ``def`` lines and docstring, as written, dedented."""
    source = path.read_text()
    node = find_definition(ast.parse(source), qualname)
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return f"def {qualname.split('.')[-1]}(...):"
    lines = source.splitlines()
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    body = node.body[0]
    has_docstring = ast.get_docstring(node) is not None
    last = (body.end_lineno or body.lineno) if has_docstring else body.lineno - 1
    head = lines[first - 1 : max(last, node.lineno)]
    while len(head) > 1 and (not head[-1].strip() or head[-1].strip().startswith("#")):
        head.pop()  # comments before the first statement: the solution markers
    return textwrap.dedent("\n".join(head)).rstrip()


def brief_paragraph(lab: Lab, milestone_id: str) -> str:
    """The milestone's part of the lab's brief (see the module docstring)."""
    readme = lab.package_dir / "README.md"
    lines = readme.read_text().splitlines() if readme.exists() else []
    for find in (_heading_section, _bold_paragraph, _table_row, _bullet):
        found = find(lines, milestone_id)
        if found:
            if len(found) > MAX_BRIEF_LINES:
                found = [*found[:MAX_BRIEF_LINES], f"… (the rest is in {readme})"]
            return "\n".join(found).strip("\n")
    return lab.milestone(milestone_id).title


def _heading_section(lines: list[str], mid: str) -> list[str]:
    for index, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading and _starts_with(heading[2], mid):
            level = len(heading[1])
            section = [line]
            for following in lines[index + 1 :]:
                deeper = _HEADING.match(following)
                if deeper and len(deeper[1]) <= level:
                    break
                section.append(following)
            return section
    return []


def _paragraph_from(lines: list[str], index: int) -> list[str]:
    paragraph = []
    for line in lines[index:]:
        if not line.strip():
            break
        paragraph.append(line)
    return paragraph


def _bold_paragraph(lines: list[str], mid: str) -> list[str]:
    for index, line in enumerate(lines):
        if line.startswith("**") and _starts_with(line, mid):
            return _paragraph_from(lines, index)
    return []


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table_row(lines: list[str], mid: str) -> list[str]:
    for index, line in enumerate(lines):
        if line.lstrip().startswith("|") and _starts_with(_cells(line)[0], mid):
            top = index
            while top > 0 and lines[top - 1].lstrip().startswith("|"):
                top -= 1
            header = _cells(lines[top]) if top < index else []
            return [
                f"{header[i]}: {cell}" if i < len(header) and header[i] else cell
                for i, cell in enumerate(_cells(line))
            ]
    return []


def _bullet(lines: list[str], mid: str) -> list[str]:
    for index, line in enumerate(lines):
        bullet = _BULLET.match(line)
        if bullet and _starts_with(bullet[1], mid):
            item = [line]
            for following in lines[index + 1 :]:
                if not following.strip() or _BULLET.match(following):
                    break
                item.append(following)
            return item
    return []


def show_task(
    drill: Drill, folder: Path, console: Console, *, in_round: bool = False
) -> None:
    """Print the task: what to write, where, the brief, the target and the commands.

    In a round the commands name the drill (two are open at once).
    """
    lab = drill.lab
    titles = {m.id: m.title for m in lab.milestones}
    console.rule(f"[bold]drill {drill.id}[/bold]  ({drill.kind})")
    for region_id, region in drill.region_objects.items():
        rel = region.path.relative_to(lab.package_dir)
        head = function_head(region.path, region.function)
        console.print(
            f"\n[bold]{region_id}[/bold]  [dim]{rel}, {region.milestone}[/dim]"
            f"\n  Write: {region.description or titles[region.milestone]}",
            highlight=False,
        )
        if "#" in region_id:
            console.print(
                f"  (the part of {region.function} marked TODO({region.milestone}); "
                "the rest of the function is given)",
                highlight=False,
            )
        console.print(Syntax(textwrap.indent(head, "  "), "python", theme="ansi_dark"))
    for milestone_id in drill.milestones:
        console.print(f"\n[bold]From the brief ({milestone_id}):[/bold]")
        console.print(brief_paragraph(lab, milestone_id), markup=False, highlight=False)
    files = sorted(
        {
            str(folder / r.path.relative_to(lab.package_dir))
            for r in drill.region_objects.values()
        }
    )
    name = f" {drill.id}" if in_round else ""
    console.print(
        f"\n[bold]Target:[/bold] {drill.minutes} min. The clock is running.\n"
        f"[bold]Edit:[/bold] {', '.join(files)}\n"
        f"Check: `labkit drill check`   a hint (recorded): `labkit drill hint{name}`   "
        f"give up and see the reference: `labkit drill give-up{name}`",
        highlight=False,
    )

"""``labkit verify``: prove every milestone's tests can fail.

For each lab:

1. **regions** – every marker parses and every milestone has at least one
   solution region and existing test files;
2. **reference** – the reference passes every milestone's tests;
3. **mN stubbed** – with only mN's regions stubbed, every test of mN fails
   (a test marked ``@pytest.mark.given`` checks code the starter provides and
   is exempt; a skipped test cannot be judged and is reported);
4. **starter** – the full starter imports cleanly and its tests collect.

It prints a table and exits non-zero on any violation.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.kit.check import split_by_milestone
from common.kit.manifest import Kit, Lab, ManifestError
from common.kit.overlay import overlay_env
from common.kit.regions import RegionError
from common.kit.runner import run_pytest
from common.kit.starter import write_starter


@dataclass(frozen=True)
class Finding:
    lab: str
    check: str
    ok: bool
    detail: str


def _short(nodeids: list[str], limit: int = 3) -> str:
    names = [n.split("::", 1)[-1] for n in nodeids]
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _check_regions(kit: Kit, lab: Lab) -> Finding:
    try:
        regions = lab.regions()
        for milestone in lab.milestones:
            kit.test_paths(milestone)
    except (RegionError, ManifestError) as exc:
        return Finding(lab.id, "regions", False, str(exc))
    covered = {r.milestone for r in regions}
    bare = [m.id for m in lab.milestones if m.id not in covered]
    if bare:
        return Finding(
            lab.id, "regions", False, f"milestones with no solution region: {bare}"
        )
    return Finding(
        lab.id,
        "regions",
        True,
        f"{len(regions)} regions in {len(lab.milestones)} milestones",
    )


def _check_reference(kit: Kit, lab: Lab) -> Finding:
    files = [p for m in lab.milestones for p in kit.test_paths(m)]
    run = run_pytest(files, root=kit.root)
    results = split_by_milestone(kit, list(lab.milestones), run)
    failed = [o.nodeid for r in results for o in r.outcomes if not o.ok]
    empty = [r.milestone.id for r in results if not r.outcomes]
    skipped = [o.nodeid for r in results for o in r.outcomes if o.outcome == "skipped"]
    total = sum(len(r.outcomes) for r in results)
    if failed or empty:
        detail = f"failing: {_short(failed)}" if failed else f"no tests ran for {empty}"
        if not run.outcomes:
            detail += " | " + run.output.strip()[-300:]
        return Finding(lab.id, "reference", False, detail)
    note = f"; {len(skipped)} skipped: {_short(skipped)}" if skipped else ""
    return Finding(lab.id, "reference", True, f"{total} tests pass{note}")


def _check_stubbed(kit: Kit, lab: Lab, milestone_id: str, tmp: Path) -> Finding:
    milestone = lab.milestone(milestone_id)
    folder = write_starter(
        lab, tmp / f"{lab.id}-{milestone_id}" / lab.id, stub={milestone_id}
    )
    run = run_pytest(
        kit.test_paths(milestone), root=kit.root, overlay={lab.module: folder}
    )
    outcomes = split_by_milestone(kit, [milestone], run)[0].outcomes
    name = f"{milestone_id} stubbed"
    if not outcomes:
        return Finding(
            lab.id, name, False, "no tests ran: " + run.output.strip()[-300:]
        )
    passing = [o.nodeid for o in outcomes if o.outcome == "passed" and not o.given]
    skipped = [o.nodeid for o in outcomes if o.outcome == "skipped"]
    failing = [o for o in outcomes if not o.ok]
    if passing:
        return Finding(
            lab.id, name, False, f"pass without the solution: {_short(passing)}"
        )
    if not failing:
        return Finding(
            lab.id, name, False, "nothing failed (all tests given or skipped)"
        )
    note = f"; {len(skipped)} skipped, not judged" if skipped else ""
    given = sum(o.given for o in outcomes)
    note += f"; {given} given" if given else ""
    return Finding(
        lab.id, name, True, f"{len(failing)}/{len(outcomes)} tests fail{note}"
    )


def _check_starter(kit: Kit, lab: Lab, tmp: Path) -> Finding:
    folder = write_starter(lab, tmp / f"{lab.id}-starter" / lab.id)
    modules = sorted(
        ".".join(
            (lab.module, *p.relative_to(folder).with_suffix("").parts)
        ).removesuffix(".__init__")
        for p in folder.rglob("*.py")
    )
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    proc = subprocess.run(
        [sys.executable, "-c", code, *modules],
        cwd=kit.root,
        env=overlay_env({lab.module: folder}),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return Finding(lab.id, "starter", False, f"does not import: {last[0]}")
    files = [p for m in lab.milestones for p in kit.test_paths(m)]
    run = run_pytest(
        files,
        root=kit.root,
        overlay={lab.module: folder},
        extra_args=["--collect-only"],
    )
    errors = [o for o in run.outcomes if o.outcome == "error"]
    if errors or run.returncode not in (0, 5):
        message = (
            (errors[0].failure or {}).get("message", "")
            if errors
            else run.output.strip()[-300:]
        )
        return Finding(lab.id, "starter", False, f"tests do not collect: {message}")
    return Finding(
        lab.id, "starter", True, f"{len(modules)} modules import; tests collect"
    )


def verify_lab(
    kit: Kit, lab: Lab, *, skip_reference: bool = False, console: Console | None = None
) -> list[Finding]:
    """Run every check on one lab; stop early only if its markers are broken."""

    def note(finding: Finding) -> Finding:
        if console is not None:
            mark = "[green]✓[/green]" if finding.ok else "[red]✗[/red]"
            console.print(
                f"  {mark} {finding.lab:<16} {finding.check:<12} {finding.detail}",
                markup=True,
                highlight=False,
            )
        return finding

    findings = [note(_check_regions(kit, lab))]
    if not findings[0].ok:
        return findings
    if not skip_reference:
        findings.append(note(_check_reference(kit, lab)))
    with tempfile.TemporaryDirectory(prefix=f"labkit-verify-{lab.id}-") as tmp:
        for milestone in lab.milestones:
            findings.append(note(_check_stubbed(kit, lab, milestone.id, Path(tmp))))
        findings.append(note(_check_starter(kit, lab, Path(tmp))))
    return findings


def verify(
    kit: Kit, labs: list[Lab], *, skip_reference: bool = False, console: Console
) -> bool:
    """Verify ``labs``, print the table, and return whether everything held."""
    findings: list[Finding] = []
    for lab in labs:
        console.print(f"[bold]verifying {lab.id}[/bold]")
        findings.extend(
            verify_lab(kit, lab, skip_reference=skip_reference, console=console)
        )
    table = Table(title="labkit verify")
    for column in ("lab", "check", "", "detail"):
        table.add_column(column)
    for f in findings:
        table.add_row(
            f.lab, f.check, "[green]✓[/green]" if f.ok else "[red]✗[/red]", f.detail
        )
    console.print(table)
    bad = [f for f in findings if not f.ok]
    if bad:
        console.print(f"[red]{len(bad)} violation(s).[/red]")
    elif not labs:
        console.print("No labs to verify yet.")
    return not bad

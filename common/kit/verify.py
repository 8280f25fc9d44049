"""``labkit verify``: prove every milestone's tests can fail, and fail for the right reasons.

For each lab:

1. **regions** – every marker parses and every milestone has at least one
   solution region and existing test files;
2. **hints** – every code snippet in a hint occurs in the reference
   (``common.kit.hints``), so pasting the last hint cannot mislead;
3. **reference** – the reference passes every milestone's tests (skipped by
   ``make test``, which has just run them);
4. **mN stubbed** – with only mN's regions stubbed, every test of mN fails
   (a test marked ``@pytest.mark.given`` checks code the starter provides and
   is exempt; a skipped test cannot be judged and is reported);
5. **wrong mN/...** – with each known wrong answer of mN in place of the
   reference (``tests/<lab>/wrong/mN.toml``, see ``common.kit.wrong``), some
   test of mN fails;
6. **starter** – the full starter imports cleanly and its tests collect.

The checks that run tests are independent pytest processes, so they run in
parallel (``--jobs``, default: one more than the cores: a run spends part of
its time waiting on the servers and processes it starts; on 2 cores, with 3
at once, a fifth of the CPU time was still idle). Tests that start Ray take a
machine-wide lock (``LABKIT_RAY_LOCK``, honoured by ``tests/conftest.py``), so
two local Ray clusters never compete for two cores. A lab whose inputs are
unchanged since its last clean run is not verified again
(``common.kit.verify_cache``; ``--no-cache`` forces it). Each pytest run is a
fork of one warm server that has already imported numpy, torch and pytest
(``common.kit.warm_pytest``), which halves the cost of a run.

It prints a table and returns whether everything held.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.kit import verify_checks as checks
from common.kit.manifest import Kit, Lab
from common.kit.verify_cache import VerifyCache, digest
from common.kit.verify_checks import Finding
from common.kit.warm_pytest import WarmPytest, available

RAY_LOCK_VAR = "LABKIT_RAY_LOCK"
# A check that runs tests; it gets the warm server to fork from, or None.
Job = Callable[[WarmPytest | None], Finding]
# Below this many pytest runs, a warm server's own start-up (importing torch
# and friends once, seconds) costs more than it saves.
WARM_FROM_RUNS = 12
SLOWEST = 8  # the slowest runs named after a verify, where to look to make it faster


def _note(console: Console | None, finding: Finding) -> Finding:
    if console is not None:
        mark = "[green]✓[/green]" if finding.ok else "[red]✗[/red]"
        console.print(
            f"  {mark} {finding.lab:<16} {finding.check:<12} {finding.detail}",
            markup=True,
            highlight=False,
        )
    return finding


def plan_lab(
    kit: Kit, lab: Lab, tmp: Path, *, skip_reference: bool
) -> tuple[list[Finding], list[Job]]:
    """The static findings of ``lab`` and the test-running checks still to do."""
    static, answers = checks.check_static(kit, lab)
    if not static[0].ok:  # broken markers: nothing else can be judged
        return static, []
    jobs: list[Job] = []
    if not skip_reference:
        jobs.append(lambda warm: checks.check_reference(kit, lab, warm))
    for milestone in lab.milestones:
        jobs.append(
            lambda warm, m=milestone.id: checks.check_stubbed(kit, lab, m, tmp, warm)  # type: ignore[misc]
        )
    for answer in answers:
        jobs.append(
            lambda warm, a=answer: checks.check_wrong(kit, lab, a, tmp, warm)  # type: ignore[misc]
        )
    jobs.append(lambda warm: checks.check_starter(kit, lab, tmp, warm))
    return static, jobs


def verify_lab(
    kit: Kit, lab: Lab, *, skip_reference: bool = False, console: Console | None = None
) -> list[Finding]:
    """Run every check on one lab, one after another (see :func:`verify`)."""
    with tempfile.TemporaryDirectory(prefix=f"labkit-verify-{lab.id}-") as tmp:
        static, jobs = plan_lab(kit, lab, Path(tmp), skip_reference=skip_reference)
        return [_note(console, f) for f in static] + [
            _note(console, job(None)) for job in jobs
        ]


def _run_all(
    planned: dict[str, list[Job]], workers: int, console: Console
) -> dict[str, list[Finding]]:
    """Run every planned job on ``workers`` threads; findings in plan order."""
    runs = sum(len(jobs) for jobs in planned.values())
    warm = WarmPytest() if available() and runs >= WARM_FROM_RUNS else None
    order: dict[Future[Finding], tuple[str, int]] = {}
    took: list[tuple[float, Finding]] = []

    def timed(job: Job) -> Finding:
        started = time.perf_counter()
        finding = job(warm)
        took.append((time.perf_counter() - started, finding))
        return finding

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for lab_id, jobs in planned.items():
            for index, job in enumerate(jobs):
                order[pool.submit(timed, job)] = (lab_id, index)
        for future in as_completed(order):
            _note(console, future.result())  # live progress, in completion order
    if len(took) > SLOWEST:
        slowest = sorted(took, key=lambda item: -item[0])[:SLOWEST]
        console.print(
            f"[dim]{len(took)} test runs, {sum(t for t, _ in took):.0f} s in all; the "
            "slowest: "
            + ", ".join(f"{f.lab} {f.check} {t:.0f} s" for t, f in slowest)
            + "[/dim]",
            highlight=False,
        )
    found: dict[str, list[Finding]] = {lab_id: [] for lab_id in planned}
    for future, (lab_id, _) in sorted(order.items(), key=lambda item: item[1]):
        found[lab_id].append(future.result())
    return found


def verify(
    kit: Kit,
    labs: list[Lab],
    *,
    skip_reference: bool = False,
    console: Console,
    jobs: int | None = None,
    use_cache: bool = True,
) -> bool:
    """Verify ``labs``, print the table, and return whether everything held."""
    started = time.perf_counter()
    cache = VerifyCache(kit)
    findings: dict[str, list[Finding]] = {}
    planned: dict[str, list[Job]] = {}
    keys: dict[str, str] = {}
    lock = Path(tempfile.gettempdir()) / f"labkit-ray-{os.getuid()}.lock"
    os.environ.setdefault(RAY_LOCK_VAR, str(lock))  # inherited by every pytest run
    with tempfile.TemporaryDirectory(prefix="labkit-verify-") as tmp:
        for lab in labs:
            keys[lab.id] = digest(kit, lab)
            hit = (
                cache.get(lab, keys[lab.id], need_reference=not skip_reference)
                if use_cache
                else None
            )
            if hit is not None:
                console.print(
                    f"[dim]{lab.id}: unchanged since its clean run at "
                    f"{hit['verified_at']}; not verified again (--no-cache forces it)[/dim]"
                )
                findings[lab.id] = [Finding(**f) for f in hit["findings"]]
                continue
            static, lab_jobs = plan_lab(
                kit, lab, Path(tmp), skip_reference=skip_reference
            )
            findings[lab.id] = [_note(console, f) for f in static]
            planned[lab.id] = lab_jobs
        workers = jobs or (os.cpu_count() or 1) + 1
        for lab_id, done in _run_all(planned, workers, console).items():
            findings[lab_id].extend(done)
    for lab in labs:
        if lab.id in planned and all(f.ok for f in findings[lab.id]):
            cache.put(
                lab,
                keys[lab.id],
                [f.as_dict() for f in findings[lab.id]],
                with_reference=not skip_reference,
            )
    _print_table(findings, console)
    bad = [f for fs in findings.values() for f in fs if not f.ok]
    elapsed = time.perf_counter() - started
    if bad:
        console.print(f"[red]{len(bad)} violation(s).[/red] ({elapsed:.0f} s)")
    elif not labs:
        console.print("No labs to verify yet.")
    else:
        console.print(f"[green]Every check held.[/green] ({elapsed:.0f} s)")
    return not bad


def _print_table(findings: dict[str, list[Finding]], console: Console) -> None:
    """One row per check, except wrong answers: one row per milestone with a count."""
    table = Table(title="labkit verify")
    for column in ("lab", "check", "", "detail"):
        table.add_column(column)
    for lab_id, lab_findings in findings.items():
        wrong: dict[str, list[Finding]] = {}
        for f in lab_findings:
            if f.check.startswith("wrong "):
                wrong.setdefault(f.milestone, []).append(f)
                continue
            table.add_row(lab_id, f.check, _mark(f.ok), f.detail)
        for milestone, answers in sorted(wrong.items()):
            missed = [f for f in answers if not f.ok]
            detail = f"{len(answers) - len(missed)}/{len(answers)} caught"
            if missed:
                detail += ": " + "; ".join(
                    f"{f.check.split('/', 1)[-1]} {f.detail}" for f in missed
                )
            table.add_row(lab_id, f"{milestone} wrong", _mark(not missed), detail)
    console.print(table)


def _mark(ok: bool) -> str:
    return "[green]✓[/green]" if ok else "[red]✗[/red]"

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
   test of mN fails. In both, a failure that any code would get (a fixture
   that nothing provides) is no proof: the check fails and says so;
6. **starter** – the full starter imports cleanly and its tests collect.

The checks that run tests are independent pytest processes, so they run in
parallel (``--jobs``, default: as many as the cores, beside the Ray lane's
run: a run spends part of its time waiting on the servers and processes it
starts. On 2 cores, verifying every lab took 326 s with 1, 298 s with 2 and
316 s with 3, the last burning 7% more CPU-seconds than 2 for the same
work). Tests that start Ray take a machine-wide lock, so two local Ray clusters never compete for two cores: a
run that needs Ray does not wait for it in one of those slots but is deferred
to the *Ray lane*, which runs such checks one after another, beside the
others and ahead of them in CPU priority (``common.kit.ray_lane``). A lab
whose inputs are
unchanged since its last clean run is not verified again
(``common.kit.verify_cache``; ``--no-cache`` forces it). Each pytest run is a
fork of one warm server that has already imported numpy, torch and pytest
(``common.kit.warm_pytest``), which halves the cost of a run; the
torch.distributed ranks and uvicorn servers a run starts are forked from the
same server (``infra.rank_process``, ``infra.warm_fork``) instead of new
interpreters that would import torch again.

It prints a table and returns whether everything held.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.kit import verify_checks as checks
from common.kit.manifest import Kit, Lab
from common.kit.ray_lane import LOCK_VAR, run_in_lanes
from common.kit.verify_cache import VerifyCache, digest
from common.kit.verify_checks import Finding
from common.kit.warm_pytest import WarmPytest, available

# A check that runs tests; it gets the warm server to fork from (or None) and
# whether to wait for the Ray lock (else it raises RayBusy if it needs Ray).
Job = Callable[[WarmPytest | None, bool], Finding]
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
        jobs.append(
            lambda warm, wait: checks.check_reference(kit, lab, warm, ray_wait=wait)
        )
    for milestone in lab.milestones:
        jobs.append(
            lambda warm, wait, m=milestone.id: checks.check_stubbed(  # type: ignore[misc]
                kit, lab, m, tmp, warm, ray_wait=wait
            )
        )
    for answer in answers:
        jobs.append(
            lambda warm, wait, a=answer: checks.check_wrong(  # type: ignore[misc]
                kit, lab, a, tmp, warm, ray_wait=wait
            )
        )
    jobs.append(lambda warm, wait: checks.check_starter(kit, lab, tmp, warm))
    return static, jobs


def verify_lab(
    kit: Kit, lab: Lab, *, skip_reference: bool = False, console: Console | None = None
) -> list[Finding]:
    """Run every check on one lab, one after another (see :func:`verify`)."""
    with tempfile.TemporaryDirectory(prefix=f"labkit-verify-{lab.id}-") as tmp:
        static, jobs = plan_lab(kit, lab, Path(tmp), skip_reference=skip_reference)
        return [_note(console, f) for f in static] + [
            _note(console, job(None, True)) for job in jobs
        ]


def _run_all(
    planned: dict[str, list[Job]], workers: int, console: Console
) -> dict[str, list[Finding]]:
    """Run every planned job, ``workers`` at a time plus the Ray lane; findings in plan order.

    Each job first runs in one of the ``workers`` slots, where a job that
    needs Ray comes back as :class:`RayBusy`; the Ray lane runs those one at a
    time (``common.kit.ray_lane.run_in_lanes``).
    """
    warm = (
        WarmPytest()
        if available() and sum(map(len, planned.values())) >= WARM_FROM_RUNS
        else None
    )
    took: list[tuple[float, Finding]] = []
    began = time.perf_counter()
    deferred: list[float] = []  # each run that waited its turn on the Ray lane
    deferred_ended = [0.0]  # when the last of them ended

    def timed(job: Job) -> Callable[[bool], Finding]:
        needs_ray = False

        def run(wait: bool) -> Finding:
            nonlocal needs_ray
            started = time.perf_counter()
            try:
                finding = job(warm, wait)
            except checks.RayBusy:
                needs_ray = True  # it runs again, on the lane
                raise
            now = time.perf_counter()
            took.append((now - started, finding))
            if needs_ray:
                deferred.append(now - started)
                deferred_ended[0] = max(deferred_ended[0], now - began)
            return finding

        return run

    results = run_in_lanes(
        {
            (lab_id, i): timed(job)
            for lab_id, jobs in planned.items()
            for i, job in enumerate(jobs)
        },
        workers,
        on_result=lambda _key, finding: _note(console, finding),  # live progress
    )
    if len(took) > SLOWEST:
        slowest = sorted(took, key=lambda item: -item[0])[:SLOWEST]
        console.print(
            f"[dim]{len(took)} test runs, {sum(t for t, _ in took):.0f} s in all; the "
            "slowest: "
            + ", ".join(f"{f.lab} {f.check} {t:.0f} s" for t, f in slowest)
            + f"; {len(deferred)} runs waited for the Ray lane: {sum(deferred):.0f} s "
            f"in all, the last ended at {deferred_ended[0]:.0f} s of "
            f"{time.perf_counter() - began:.0f}[/dim]",
            highlight=False,
        )
    return {
        lab_id: [results[(lab_id, i)] for i in range(len(jobs))]
        for lab_id, jobs in planned.items()
    }


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
    os.environ.setdefault(LOCK_VAR, str(lock))  # inherited by every pytest run
    tmp = tempfile.mkdtemp(prefix="labkit-verify-")
    try:
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
        workers = jobs or os.cpu_count() or 1
        for lab_id, done in _run_all(planned, workers, console).items():
            findings[lab_id].extend(done)
    finally:
        checks.drop_scratch_bytecode(kit, Path(tmp))
        _remove_scratch(Path(tmp), console)
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
        # Again below the table: a long table scrolls away, and a CI log is
        # often read from its tail.
        for f in bad:
            console.print(
                f"[red]✗[/red] {f.lab} {f.check}: {f.detail}", highlight=False
            )
        console.print(f"[red]{len(bad)} violation(s).[/red] ({elapsed:.0f} s)")
    elif not labs:
        console.print("No labs to verify yet.")
    else:
        console.print(f"[green]Every check held.[/green] ({elapsed:.0f} s)")
    return not bad


def _remove_scratch(folder: Path, console: Console, tries: int = 3) -> None:
    """Delete verify's scratch folder; a second later again if something was left.

    A straggler can still be writing into it as it goes (seen once in a
    clean-clone run: "Directory not empty" in the runs' bytecode cache, after
    every run had passed). That must not crash the verdict: at worst the
    folder stays, named in a warning.
    """
    for attempt in range(tries):
        if attempt:
            time.sleep(1.0)
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            return
    console.print(
        f"[yellow]{folder} is left behind: a process still writes into it "
        "(delete it once nothing runs).[/yellow]"
    )


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

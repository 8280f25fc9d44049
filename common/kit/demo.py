"""``labkit demo``: the whole pipeline on the embedded defaults, one report.

The data step first, then every lab that has a ``run`` step, in pipeline
order, each at the size its ``lab.toml`` sets for the demo (``demo = {...}``)
unless a preset is forced for all. One broken step never hides the others:
the demo records it, keeps going, and reports every failure at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console

from common.kit import steps
from common.kit.manifest import Kit


@dataclass
class DemoOutcome:
    """What the demo did: seconds per step, the steps that failed, the report."""

    seconds: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    report: str = ""


def run_demo(
    kit: Kit,
    *,
    preset: str | None,
    mine: bool,
    console: Console,
    err: Console,
) -> DemoOutcome:
    """Run the data step and every lab's ``run``, then gather ``results/REPORT.md``.

    Args:
        preset: run every step at this ShopStream preset; ``None`` uses
            ``small`` for the data and each lab's ``demo`` keywords.
        mine: use the candidate's completed workspace labs instead of the reference.
    """
    from common.report import gather

    if mine:
        chosen = steps.completed_labs(kit)
        console.print(
            f"Using your code for: {', '.join(lab.id for lab in chosen) or 'no lab yet'}"
        )
        steps.use_workspace(kit, chosen)
    outcome = DemoOutcome()
    plan = ["data", *(lab.id for lab in kit.labs if lab.run)]
    for number, name in enumerate(plan, start=1):
        started = time.perf_counter()
        console.rule(f"[{number}/{len(plan)}] {name}")
        try:
            if name == "data":
                steps.data_step(preset or "small")
            else:
                lab = kit.lab(name)
                options = dict(lab.demo)
                if preset is not None:
                    options["preset"] = preset
                steps.run_step(lab, "run", **options)
        except Exception as exc:  # keep going: one broken lab must not hide the others
            outcome.failures.append(name)
            err.print(
                f"[red]{name} failed:[/red] {type(exc).__name__}: {exc}",
                highlight=False,
            )
            err.print_exception(max_frames=5)
        outcome.seconds[name] = time.perf_counter() - started
        console.print(f"[dim]{name}: {outcome.seconds[name]:.1f} s[/dim]")
    outcome.report = str(gather(["data", *(lab.id for lab in kit.labs)]))
    return outcome

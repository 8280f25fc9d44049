"""The capacity report: tables, plots, replica sizing and what the numbers say.

    write_report(results, comparison, target_rps=10 * peak_rps, headroom=0.3)

Everything on the page is computed from the comparison handed in: the
latency–throughput curve of each variant with the SLO line, a latency
histogram at the knee (mean, p50 and p99 marked: the mean is not what users
feel), the table of knees, and a few sentences derived from those figures
(which variant holds most load at the SLO, what saturates first, how far the
mean is from the p99, how many replicas a target traffic needs).

Replica sizing. A replica is trusted up to its knee times ``1 − headroom``:
headroom is kept for a lost replica or zone, autoscaler lag and a noisy
neighbour. ``replicas = ceil(target / (knee × (1 − headroom)))``.
"""

from __future__ import annotations

import math

import numpy as np

from common.results import Results
from labs.load_testing.capacity import LITTLE_TOLERANCE, Step
from labs.load_testing.knee_search import compare_knees
from labs.load_testing.variants import Comparison, Outcome

# Per second of a step: server CPU-seconds per worker that count as a saturated
# CPU, and run-queue seconds (runnable, waiting for a core) that count as starved.
CPU_SATURATED = 0.85
CONTENDED = 0.2


TRAFFIC_MULTIPLE = 10  # "how many replicas for 10× today's traffic?"
HEADROOM = 0.3  # kept free on every replica (a lost replica, autoscaler lag)


def sizing_target(comparison: Comparison) -> float:
    """``TRAFFIC_MULTIPLE ×`` what the baseline variant carries at the SLO (0 if no knee)."""
    base = comparison.outcomes[0]
    knee = base.sweep.knee if base.sweep else None
    return TRAFFIC_MULTIPLE * knee.offered_rps if knee else 0.0


def replicas_needed(target_rps: float, knee_rps: float, headroom: float = 0.3) -> int:
    """Replicas so that each runs at most ``knee × (1 − headroom)``.

    ``ceil(target / (knee × (1 − headroom)))``, at least 1.

    Raises:
        ValueError: ``knee_rps ≤ 0``, ``target_rps < 0`` or headroom outside [0, 1).
    """
    if not knee_rps > 0 or not target_rps >= 0 or not 0 <= headroom < 1:
        raise ValueError(
            f"need knee_rps > 0, target_rps ≥ 0 and 0 ≤ headroom < 1; got {knee_rps}, "
            f"{target_rps}, {headroom}."
        )
    # BEGIN SOLUTION m5: the usable rate per replica is knee × (1 − headroom); round target / usable up (with a tiny tolerance for float error), and never return fewer than 1
    usable = knee_rps * (1.0 - headroom)
    return max(1, math.ceil(target_rps / usable - 1e-9))
    # END SOLUTION


def saturation(outcome: Outcome) -> str:
    """What gave out first in a sweep, read from the first step past the knee.

    In this order:

    - ``generator``: the load generator's own lateness (send lag p99) is at
      least half the step's p99, so the tail is mostly the instrument's;
    - ``server CPU``: the server used at least ``CPU_SATURATED`` of a core
      per worker: its event loops were busy all the time;
    - ``CPU contention``: the server was runnable but waiting for a core
      (the kernel's run-queue wait) at least ``CONTENDED`` of the time:
      other processes held the cores;
    - ``waiting``: none of these: latency grew while the CPU had room (a
      lock, a queue, a batch wait, a dependency).

    ``none`` when every step met the SLO, ``not measured`` without a sweep.
    """
    sweep = outcome.sweep
    if sweep is None:
        return "not measured"
    knee = sweep.knee
    beyond = [
        s for s in sweep.steps if knee is None or s.offered_rps > knee.offered_rps
    ]
    # BEGIN SOLUTION m5: take the lowest-rate step past the knee (none: 'none'); then 'generator' if send_lag_p99_ms ≥ p99_ms / 2, 'server CPU' if server_cpu ≥ CPU_SATURATED × workers, 'CPU contention' if server_runq ≥ CONTENDED, else 'waiting'
    if not beyond:
        return "none"
    first = min(beyond, key=lambda s: s.offered_rps)
    if first.send_lag_p99_ms >= first.p99_ms / 2:
        return "generator"
    if first.server_cpu >= CPU_SATURATED * outcome.variant.workers:
        return "server CPU"
    if first.server_runq >= CONTENDED:
        return "CPU contention"
    return "waiting"
    # END SOLUTION


def findings(
    comparison: Comparison,
    *,
    target_rps: float,
    headroom: float,
    loadgen_max_rps: float,
) -> list[str]:
    """Sentences derived from the comparison (no canned numbers)."""
    swept = [o for o in comparison.swept() if o.sweep and o.sweep.knee]
    out: list[str] = []
    if not swept:
        return [
            f"No variant met the {comparison.slo_ms:g} ms p99 SLO at any offered rate."
        ]
    best = max(swept, key=lambda o: o.sweep.knee.offered_rps)  # type: ignore[union-attr]
    base = comparison.outcomes[0]
    best_knee: Step = best.sweep.knee  # type: ignore[union-attr,assignment]
    out.append(
        f"**Capacity at the SLO.** `{best.variant.name}` holds the most load with p99 "
        f"≤ {comparison.slo_ms:g} ms: {best_knee.offered_rps:,.0f} requests/s "
        f"(p99 {best_knee.p99_ms:.1f} ms)."
    )
    if base.sweep and base.sweep.knee and base is not best:
        ratio = best_knee.offered_rps / base.sweep.knee.offered_rps
        out.append(
            f"That is {ratio:.2f}× the `{base.variant.name}` baseline "
            f"({base.sweep.knee.offered_rps:,.0f} requests/s)."
        )
    searches = {o.variant.name: o.sweep.search for o in swept if o.sweep.search}  # type: ignore[union-attr]
    if len(searches) > 1:
        out.append(
            "**How sure.** Each knee was bisected to ±5%, every rate run until its "
            "runs agreed: " + " ".join(compare_knees(searches))
        )
    for outcome in comparison.outcomes:
        if outcome.skipped:
            out.append(f"`{outcome.variant.name}` was not measured: {outcome.skipped}.")
    causes = {o.variant.name: saturation(o) for o in comparison.swept()}
    out.append(
        "**What saturates first** (the first step past each knee): "
        + "; ".join(f"`{name}`: {cause}" for name, cause in causes.items())
        + ". *server CPU*: the workers' event loops were busy all the time; *CPU "
        "contention*: the server was ready to run but waited for a core held by "
        "other processes; *waiting*: latency grew while the CPU had room (a queue, "
        "a lock, a batch wait or the store); *generator*: the load generator's own "
        "lateness made up most of the tail."
    )
    mean_ratio = best_knee.p99_ms / best_knee.mean_ms if best_knee.mean_ms else math.nan
    worst = max(best.sweep.steps, key=lambda s: s.offered_rps)  # type: ignore[union-attr]
    out.append(
        f"**Why the mean lies.** At the knee of `{best.variant.name}` the mean is "
        f"{best_knee.mean_ms:.1f} ms but the p99 is {best_knee.p99_ms:.1f} ms "
        f"({mean_ratio:.1f}× the mean); at its highest step "
        f"({worst.offered_rps:,.0f} requests/s) the mean is {worst.mean_ms:.0f} ms and "
        f"the p99 {worst.p99_ms:.0f} ms. An SLO on the mean would let one request in "
        "a hundred wait that long unnoticed."
    )
    replicas = replicas_needed(target_rps, best_knee.offered_rps, headroom)
    out.append(
        f"**Sizing.** {target_rps:,.0f} requests/s with {headroom:.0%} headroom needs "
        f"{replicas} replicas of `{best.variant.name}` (each trusted to "
        f"{best_knee.offered_rps * (1 - headroom):,.0f} requests/s, "
        f"{best_knee.offered_rps:,.0f} at the knee); one replica lost leaves "
        f"{(replicas - 1) * best_knee.offered_rps:,.0f} requests/s at the knee."
    )
    if len(swept) > 1:
        fleet = {
            o.variant.name: replicas_needed(
                target_rps,
                o.sweep.knee.offered_rps,
                headroom,  # type: ignore[union-attr]
            )
            for o in swept
        }
        out.append(
            "The same target with each design: "
            + ", ".join(f"`{name}` {count} replicas" for name, count in fleet.items())
            + ": the design choice is a fleet-size choice."
        )
    steady = [o.sweep.steady_littles_error() for o in swept if o.sweep]
    max_error = max((e for e in steady if not math.isnan(e)), default=math.nan)
    out.append(
        f"**Little's law** (L = λW) held within {max_error:.1%} on every step at or "
        f"below a knee (tolerance {LITTLE_TOLERANCE:.0%})"
        + (
            "."
            if max_error <= LITTLE_TOLERANCE
            else ": outside it, so distrust those steps."
        )
    )
    above = [
        o.variant.name for o in swept if o.sweep.knee.offered_rps > loadgen_max_rps
    ]  # type: ignore[union-attr]
    if math.isnan(loadgen_max_rps):
        return out  # the ceiling was not measured in this run (the bench measures it)
    out.append(
        f"The load generator itself reached {loadgen_max_rps:,.0f} requests/s against an "
        "empty endpoint; "
        + (
            f"the knees of {above} are above it and not trusted."
            if above
            else "every knee is below that ceiling."
        )
    )
    return out


def write_report(
    results: Results,
    comparison: Comparison,
    *,
    target_rps: float,
    headroom: float = 0.3,
    loadgen_max_rps: float = math.nan,
) -> list[str]:
    """Tables, the two plots and the findings onto ``results``; returns the findings."""
    slo = comparison.slo_ms
    results.table(comparison.rows(), title=f"Knee per variant (p99 SLO {slo:g} ms)")
    for outcome in comparison.swept():
        results.table(
            [s.row() for s in outcome.sweep.steps],  # type: ignore[union-attr]
            title=f"Sweep: {outcome.variant.name}",
        )
    with results.plot(
        "latency_throughput", f"p99 against throughput, SLO {slo:g} ms"
    ) as ax:
        for outcome in comparison.swept():
            steps = outcome.sweep.steps  # type: ignore[union-attr]
            ax.plot(
                [s.throughput_rps for s in steps], [s.p99_ms for s in steps],
                marker="o", label=outcome.variant.name,
            )  # fmt: skip
        ax.axhline(slo, color="red", linestyle="--", label=f"SLO {slo:g} ms")
        ax.set_yscale("log")
        ax.set_xlabel("throughput (2xx requests/s)")
        ax.set_ylabel("p99 latency (ms, log)")
        ax.legend()
    best = max(
        (o for o in comparison.swept() if o.sweep and o.sweep.knee),
        key=lambda o: o.sweep.knee.offered_rps,  # type: ignore[union-attr]
        default=None,
    )
    if best is not None:
        knee: Step = best.sweep.knee  # type: ignore[union-attr,assignment]
        latencies = knee.latencies_ms
        with results.plot(
            "latency_histogram",
            f"Latency at the knee of {best.variant.name} ({knee.offered_rps:,.0f} rps)",
        ) as ax:
            bins = np.geomspace(max(latencies.min(), 0.05), latencies.max() * 1.01, 50)
            ax.hist(latencies, bins=bins, color="steelblue")
            for value, name, colour in (
                (knee.mean_ms, "mean", "black"),
                (knee.p50_ms, "p50", "green"),
                (knee.p99_ms, "p99", "orange"),
            ):
                ax.axvline(
                    value, color=colour, linestyle="--", label=f"{name} {value:.1f} ms"
                )
            ax.set_xscale("log")
            ax.set_xlabel("latency from scheduled send (ms, log)")
            ax.set_ylabel("requests")
            ax.legend()
    sentences = findings(
        comparison,
        target_rps=target_rps,
        headroom=headroom,
        loadgen_max_rps=loadgen_max_rps,
    )
    results.text("## What the numbers say\n\n" + "\n\n".join(sentences))
    return sentences

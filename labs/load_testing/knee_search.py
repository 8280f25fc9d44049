"""Find the knee by bisection on the offered rate, each rate measured until it is stable.

    search = search_knee(measure, start_rps=800, slo_ms=50)   # measure(rate) -> Step
    search.knee_rps, search.bracket        # e.g. 1210, (1210, 1270): the knee is in there
    compare_knees({"on": a, "off": b})     # "on" > "off" only if the brackets say so

A sweep at fixed fractions of a probe (``capacity.capacity_sweep``) reads the
knee off three or four steps: it can be a quarter off, and a single noisy step
can move it. A design review needs two things that sweep cannot give: the
knee to a stated resolution, and how sure we are of it. So:

1. **Bracket.** Measure ``start_rps``. If it meets the SLO, multiply by
   ``GROW`` until a rate misses; if it misses, multiply by ``SHRINK`` until one
   meets. Now ``low`` meets and ``high`` misses.
2. **Bisect.** Measure the midpoint; it becomes the new ``low`` or ``high``.
   Stop when ``high / low ≤ 1 + 2 × tolerance``: the knee is then within
   ``± tolerance`` of the bracket's centre.
3. **Repeat each rate until it is stable.** One run at a rate is one sample
   of a noisy p99. Each rate is run ``min_runs`` times, and again (up to
   ``max_runs``) while its runs disagree on the verdict or their p99s spread
   by more than ``STABLE_SPREAD``. The verdict is the median run's; the
   spread is reported with it. A rate whose runs still disagree at
   ``max_runs`` is marked ``unstable``: the knee is near it, within the noise.
4. **Say when the generator is the limit.** A rate that missed while the
   generator's own send lag made up half the p99 (it could not launch
   requests on time), or that lies above the generator's measured ceiling,
   is the instrument's limit, not the service's: the search stops there and
   says so (``generator_limited``), and the knee is "at least" ``low``.

Every measurement is kept (``Probe.runs``), so the page can show them all.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from labs.load_testing.capacity import MAX_ERROR_RATE, Step

GROW = 1.5  # bracketing upwards: each rate this much above the last
SHRINK = 0.6  # bracketing downwards
STABLE_SPREAD = 0.25  # runs at one rate agree when max p99 / min p99 ≤ 1 + this
MAX_PROBES = 14  # rates measured at most, bracketing and bisecting together
GENERATOR_SHARE = 0.5  # send lag p99 ≥ this × p99: the generator made the tail


@dataclass
class Probe:
    """Every run at one offered rate, and the verdict of the median one."""

    rate: float
    runs: list[Step] = field(default_factory=list)
    slo_ms: float = math.inf
    max_error_rate: float = MAX_ERROR_RATE

    @property
    def median(self) -> Step:
        """The run with the median p99 (the lower middle one for an even count)."""
        ordered = sorted(self.runs, key=lambda s: s.p99_ms)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def meets(self) -> bool:
        return self.median.meets(self.slo_ms, self.max_error_rate)

    @property
    def agree(self) -> bool:
        """Every run gave the same verdict."""
        return len({s.meets(self.slo_ms, self.max_error_rate) for s in self.runs}) == 1

    @property
    def p99_spread(self) -> tuple[float, float]:
        """The lowest and the highest p99 of the runs (ms)."""
        p99s = [s.p99_ms for s in self.runs]
        return min(p99s), max(p99s)

    @property
    def stable(self) -> bool:
        low, high = self.p99_spread
        return self.agree and (low > 0 and high / low <= 1 + STABLE_SPREAD)

    @property
    def generator_bound(self) -> bool:
        """It missed because the generator was late, not because the service was."""
        step = self.median
        return not self.meets and step.send_lag_p99_ms >= GENERATOR_SHARE * step.p99_ms


@dataclass
class KneeSearch:
    """The result of :func:`search_knee`: the bracket, every probe, and its caveats."""

    slo_ms: float
    tolerance: float
    probes: list[Probe] = field(default_factory=list)
    generator_limited: bool = False
    note: str = ""

    @property
    def low(self) -> Probe | None:
        """The highest rate that met the SLO."""
        met = [p for p in self.probes if p.meets]
        return max(met, key=lambda p: p.rate) if met else None

    @property
    def high(self) -> Probe | None:
        """The lowest rate that missed it."""
        missed = [p for p in self.probes if not p.meets]
        return min(missed, key=lambda p: p.rate) if missed else None

    @property
    def knee_rps(self) -> float | None:
        low = self.low
        return low.rate if low else None

    @property
    def bracket(self) -> tuple[float, float]:
        """``(low, high)`` offered rates; ``high`` is inf when nothing missed."""
        low, high = self.low, self.high
        return (low.rate if low else 0.0, high.rate if high else math.inf)

    @property
    def resolved(self) -> bool:
        """The knee is known to within ``± tolerance`` of the bracket's centre."""
        low, high = self.bracket
        return low > 0 and high / low <= 1 + 2 * self.tolerance + 1e-9

    @property
    def runs(self) -> int:
        """Load runs made, over every rate."""
        return sum(len(p.runs) for p in self.probes)

    @property
    def unstable(self) -> list[float]:
        """Rates whose runs never agreed on the verdict."""
        return [p.rate for p in self.probes if not p.agree]

    def steps(self) -> list[Step]:
        """One step per rate (its median run), by offered rate, for the sweep's tables."""
        return [
            dataclasses.replace(p.median, runs=len(p.runs))
            for p in sorted(self.probes, key=lambda p: p.rate)
        ]

    def summary(self) -> dict[str, object]:
        low, high = self.bracket
        return {
            "knee rps": self.knee_rps,
            "bracket": [low, high if math.isfinite(high) else None],
            "resolved": self.resolved,
            "rates measured": len(self.probes),
            "runs": self.runs,
            "p99 spread at knee ms": list(self.low.p99_spread) if self.low else None,
            "unstable rates": self.unstable,
            "generator limited": self.generator_limited,
            "note": self.note,
        }


Measure = Callable[[float], Step]


def measure_probe(
    measure: Measure,
    rate: float,
    *,
    slo_ms: float,
    min_runs: int = 2,
    max_runs: int = 4,
    max_error_rate: float = MAX_ERROR_RATE,
) -> Probe:
    """Run ``rate`` ``min_runs`` times, then again while its runs are not stable."""
    if not 1 <= min_runs <= max_runs:
        raise ValueError(f"need 1 ≤ min_runs ≤ max_runs, got {min_runs}, {max_runs}.")
    probe = Probe(rate, slo_ms=slo_ms, max_error_rate=max_error_rate)
    while len(probe.runs) < min_runs or (
        len(probe.runs) < max_runs and not probe.stable
    ):
        probe.runs.append(measure(rate))
    return probe


def search_knee(
    measure: Measure,
    *,
    start_rps: float,
    slo_ms: float,
    tolerance: float = 0.05,
    min_runs: int = 2,
    max_runs: int = 4,
    generator_ceiling_rps: float = math.inf,
    max_probes: int = MAX_PROBES,
    max_error_rate: float = MAX_ERROR_RATE,
) -> KneeSearch:
    """The highest offered rate meeting the SLO, to ``± tolerance``, by bisection.

    Args:
        measure: ``measure(rate)`` runs the load once at ``rate`` and returns its Step.
        start_rps: where to start (a closed-loop probe's throughput is a good guess).
        slo_ms: the p99 the service must meet (with errors ≤ ``max_error_rate``).
        tolerance: the half-width of the final bracket, relative to its centre.
        min_runs, max_runs: runs per rate (see the module doc, point 3).
        generator_ceiling_rps: the load generator's own ceiling; no rate above it
            is offered (the search stops there, ``generator_limited``).
        max_probes: rates measured at most; past it the bracket is what it is
            (``resolved`` says whether it reached the tolerance).

    Raises:
        ValueError: a non-positive rate, SLO or tolerance.
    """
    if not (start_rps > 0 and slo_ms > 0 and 0 < tolerance < 1):
        raise ValueError(
            f"need start_rps > 0, slo_ms > 0 and 0 < tolerance < 1; got {start_rps}, "
            f"{slo_ms}, {tolerance}."
        )
    search = KneeSearch(slo_ms, tolerance)

    def probe(rate: float) -> Probe:
        found = measure_probe(
            measure, rate, slo_ms=slo_ms, min_runs=min_runs, max_runs=max_runs,
            max_error_rate=max_error_rate,
        )  # fmt: skip
        search.probes.append(found)
        if found.generator_bound:
            search.generator_limited = True
            search.note = (
                f"at {rate:,.0f} requests/s the generator's send lag made up the tail: "
                "the instrument, not the service, is the limit there"
            )
        return found

    rate = min(start_rps, generator_ceiling_rps)
    first = probe(rate)
    # 1. Bracket: walk up while the rate meets, down while it misses.
    while len(search.probes) < max_probes and not search.generator_limited:
        if search.low and search.high:
            break
        if first.meets:
            nxt = (search.low.rate if search.low else rate) * GROW
            if nxt > generator_ceiling_rps:
                search.generator_limited = True
                search.note = (
                    f"every rate up to {search.bracket[0]:,.0f} requests/s met the SLO, "
                    f"and the generator cannot offer more than "
                    f"{generator_ceiling_rps:,.0f}: the knee is at least that"
                )
                break
        else:
            nxt = (search.high.rate if search.high else rate) * SHRINK
        probe(nxt)
    # 2. Bisect the bracket.
    while (
        len(search.probes) < max_probes
        and not search.generator_limited
        and search.low is not None
        and search.high is not None
        and not search.resolved
    ):
        low, high = search.bracket
        probe(math.sqrt(low * high))  # the geometric middle: rates are ratios
    if not search.note and not search.resolved and search.low and search.high:
        low, high = search.bracket
        search.note = (
            f"stopped after {len(search.probes)} rates with the knee between "
            f"{low:,.0f} and {high:,.0f} requests/s"
        )
    if search.low is None and not search.note:
        search.note = "no rate met the SLO"
    return search


def compare_knees(searches: Mapping[str, KneeSearch]) -> list[str]:
    """Which design's knee is higher, said only where the brackets support it.

    Two knees differ when one's lowest missing rate is at or below the
    other's highest meeting rate (their brackets do not overlap); otherwise
    the measurements cannot order them, and the sentence says so.
    """
    named = [(n, s) for n, s in searches.items() if s.knee_rps is not None]
    named.sort(key=lambda item: -(item[1].knee_rps or 0.0))
    out: list[str] = []
    for (name_a, a), (name_b, b) in itertools.pairwise(named):
        a_low, _ = a.bracket
        b_low, b_high = b.bracket
        if b_high <= a_low:
            out.append(
                f"`{name_a}` holds more than `{name_b}`, at least {a_low / b_high:.2f}×: "
                f"it met the SLO at {a_low:,.0f} requests/s, and `{name_b}` already "
                f"missed it at {b_high:,.0f}."
            )
        else:
            out.append(
                f"`{name_a}` and `{name_b}` cannot be told apart at this resolution: "
                f"their brackets overlap ({a_low:,.0f}–{a.bracket[1]:,.0f} and "
                f"{b_low:,.0f}–{b_high:,.0f} requests/s); measure longer or finer "
                "before choosing on capacity."
            )
    return out

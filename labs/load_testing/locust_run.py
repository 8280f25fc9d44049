"""Run locust headless in its own process and read its statistics back.

    stats = run_locust("http://127.0.0.1:8000", workload, users=20, duration_s=10)
    stats.count, stats.failures, stats.rps, stats.p50_ms, stats.p99_ms

locust imports gevent and monkey-patches sockets and threads on import, so it
never runs in the process that starts it: ``run_locust`` writes the workload
spec, starts ``python -m locust -f locustfile.py --headless ... --csv <dir>/out``
with ``infra.module_process.run_bounded`` (its own process group), which waits
at most the run time plus a grace period and always stops it, and parses
``out_stats.csv``. The ``Aggregated`` row is the whole run; per-route rows
are kept too.

Two things to know when reading locust's numbers: it keeps response times in
buckets, so percentiles above 100 ms are rounded to two significant digits
(a p99 of 1234 ms is reported as 1200), and it is a *closed* loop: a user
waits for its response (and its think time) before sending again, so a slow
server receives fewer requests. See ``openloop.py`` for the other way.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from infra.http1 import check_loopback
from infra.module_process import ModuleWroteNoResult, run_bounded
from labs.load_testing.workload import Workload

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SPEC_ENV = "LABKIT_LOCUST_SPEC"
STARTUP_GRACE_S = 60.0  # interpreter start-up, imports and writing the CSV (busy box)


class LocustError(RuntimeError):
    """locust's statistics file is not what this parser reads."""


@dataclass(frozen=True)
class LocustStats:
    """One row of locust's ``_stats.csv`` (the run, or one route).

    Attributes:
        count: requests sent (successes and failures).
        failures: of those, failed ones (non-2xx or no response).
        rps: requests per second over the run.
        p50_ms, p95_ms, p99_ms: response-time percentiles (NaN when no request
            finished; locust rounds values above 100 ms to 2 significant digits).
        mean_ms, max_ms: mean and largest response time.
    """

    name: str
    count: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    routes: dict[str, LocustStats] = field(default_factory=dict)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.count if self.count else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(row: dict[str, str], column: str) -> float:
    """A float from a CSV cell; ``N/A`` (no samples) is NaN; a missing column is an error."""
    if column not in row:
        raise LocustError(
            f"locust's stats CSV has no column {column!r} (columns: {sorted(row)}); "
            "is this a *_stats.csv file from locust ≥ 2?"
        )
    cell = (row[column] or "").strip()
    return math.nan if cell in ("", "N/A") else float(cell)


def parse_locust_csv(path: Path) -> LocustStats:
    """Parse locust's ``<prefix>_stats.csv`` into the Aggregated row plus one per route.

    Columns used: ``Name``, ``Request Count``, ``Failure Count``,
    ``Requests/s``, ``50%``, ``95%``, ``99%``, ``Average Response Time``,
    ``Max Response Time``.

    Raises:
        LocustError: the file has no ``Aggregated`` row or lacks a column.
    """
    with Path(path).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    # BEGIN SOLUTION m1: one LocustStats per row (count and failures as ints, N/A percentiles as NaN via _number); the row named "Aggregated" is the result and every other row goes into its routes
    parsed = {
        row["Name"]: LocustStats(
            name=row["Name"],
            count=int(_number(row, "Request Count")),
            failures=int(_number(row, "Failure Count")),
            rps=_number(row, "Requests/s"),
            p50_ms=_number(row, "50%"),
            p95_ms=_number(row, "95%"),
            p99_ms=_number(row, "99%"),
            mean_ms=_number(row, "Average Response Time"),
            max_ms=_number(row, "Max Response Time"),
        )
        for row in rows
    }
    if "Aggregated" not in parsed:
        raise LocustError(
            f"{path} has no 'Aggregated' row (rows: {sorted(parsed)}); locust did not "
            "finish writing its statistics."
        )
    total = parsed.pop("Aggregated")
    return LocustStats(**{**asdict(total), "routes": parsed})
    # END SOLUTION


def run_locust(
    url: str,
    workload: Workload,
    *,
    users: int = 10,
    spawn_rate: float | None = None,
    duration_s: float = 10.0,
    think_time_s: Sequence[float] = (0.0, 0.0),
    n_bodies: int = 2000,
    seed: int = 0,
    log_dir: Path | None = None,
) -> LocustStats:
    """Run locust against ``url`` (loopback only) for ``duration_s``; parse its stats.

    Args:
        url: ``http://127.0.0.1:<port>``.
        workload: the requests' ids and mix.
        users: simulated users (each one request in flight at most).
        spawn_rate: users started per second (default: all at once).
        duration_s: locust's ``-t``; the process is stopped after
            ``duration_s + STARTUP_GRACE_S`` whatever happens.
        think_time_s: ``(low, high)`` uniform pause between a user's requests.

    Raises:
        ValueError: a non-loopback host or nonsensical bounds.
        ModuleTimedOut: locust overran ``duration_s + STARTUP_GRACE_S``.
        ModuleWroteNoResult: locust exited without writing its statistics.
        LocustError: the statistics it wrote cannot be read.
    """
    check_loopback(url)
    if users < 1 or duration_s <= 0 or len(think_time_s) != 2:
        raise ValueError(
            f"need users ≥ 1, duration_s > 0 and think_time_s=(low, high); got "
            f"{users}, {duration_s}, {think_time_s!r}."
        )
    with tempfile.TemporaryDirectory(prefix="labkit-locust-") as tmp:
        folder = Path(log_dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        spec = workload.write_locust_spec(
            folder / "spec.json", n_bodies, think_time_s=think_time_s, seed=seed
        )
        args = [
            sys.executable, "-m", "locust",
            "-f", str(LOCUSTFILE),
            "--headless", "--only-summary",
            "-u", str(users),
            "-r", str(spawn_rate or users),
            "-t", f"{max(1, round(duration_s))}s",
            "--stop-timeout", "2",
            "--csv", str(folder / "out"),
            "--host", url,
        ]  # fmt: skip
        done = run_bounded(
            args, name="locust", log_path=folder / "locust.log",
            timeout_s=duration_s + STARTUP_GRACE_S,
            env={**os.environ, SPEC_ENV: str(spec)}, grace_s=3.0,
        )  # fmt: skip
        stats = folder / "out_stats.csv"
        if not stats.exists():
            raise ModuleWroteNoResult(
                f"locust exited with code {done.returncode} and wrote no statistics "
                f"to {stats}", name="locust", pid=done.pid, output=done.output,
            )  # fmt: skip
        # locust exits 1 when any request failed: the failures are in the stats.
        return parse_locust_csv(stats)

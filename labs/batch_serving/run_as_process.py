"""The sections of ``labkit run batch_serving`` that run the job as a process of its own.

    report = crash_and_resume(results, setup, work)   # m3: killed at ~70%, resumed
    two_nodes(results, setup, work)                   # m5: joined to a local cluster

Each starts ``python -m labs.batch_serving.job`` as a real process
(``job.run_job_process``), as a scheduler or a cluster would, and records what it
measured: the crash is a real process exit (``os._exit``, no cleanup), and
the cluster run joins through ``RAY_ADDRESS`` like any job. ``run.py`` holds
the in-process sections and the order of the page.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from common.results import Results
from labs.batch_serving import measure
from labs.batch_serving.commit import read_manifest, read_output
from labs.batch_serving.job import CRASH_EXIT_CODE, run_job, run_job_process
from labs.batch_serving.pipeline import PipelineConfig, input_ids
from labs.batch_serving.plan import JobSpec
from labs.batch_serving.requests import select_partitions

CRASH_SHARE = 0.7  # the job dies after committing this share of its partitions
PROCESS_TIMEOUT_S = 600.0  # the week's job on a busy 2-core machine


def crash_and_resume(results: Results, setup: measure.Setup, work: Path) -> Any:
    """Kill the week's job at ~70% (a real process exit), then resume it."""
    import ray

    plan = setup.plan
    spec = JobSpec(
        setup.requests_root,
        work / "week",
        setup.registry_root,
        plan.version,
        setup.store_root,
    )
    crash_after = max(1, int(CRASH_SHARE * len(plan.partitions)))
    # The crashing job joins this Ray (as a job joins a cluster): its driver
    # dies, the cluster lives on and cleans up the job's actors.
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    started = time.perf_counter()
    crashed = run_job_process(
        spec,
        work / "crash.log",
        f"--crash-after={crash_after}",
        "--batch-size=4096",
        env=env,
        timeout_s=PROCESS_TIMEOUT_S,
    )
    crashed_s = time.perf_counter() - started
    if crashed.returncode != CRASH_EXIT_CODE:
        raise RuntimeError(
            f"the crashing job exited with {crashed.returncode}, not "
            f"{CRASH_EXIT_CODE}:\n{crashed.output}"
        )
    committed = read_manifest(spec.output_dir)["partitions"]
    rows_before = sum(r["rows"] for r in committed.values())
    temp_files = [p for p in spec.output_dir.rglob(".tmp-*") if p.is_file()]
    stamps = {
        n: (spec.output_dir / r["file"]).stat().st_mtime_ns
        for n, r in committed.items()
    }
    report = run_job(spec, PipelineConfig(batch_size=4096))
    untouched = all(
        (spec.output_dir / r["file"]).stat().st_mtime_ns == stamps[n]
        for n, r in read_manifest(spec.output_dir)["partitions"].items()
        if n in stamps
    )
    ids = read_output(spec.output_dir, columns=["impression_id"])[
        "impression_id"
    ].to_numpy()
    expected = np.concatenate([input_ids(p) for p in plan.partitions])
    duplicates = int(len(ids) - len(np.unique(ids)))
    gaps = len(np.setdiff1d(expected, ids))
    rerun = run_job(spec)
    figures = {
        "partitions": report.partitions,
        "crash_after": crash_after,
        "crashed_after_s": crashed_s,
        "rows_before": rows_before,
        "temp_files_left": len(temp_files),
        "skipped": report.skipped,
        "written": report.written,
        "rows_after": report.rows_out,
        "rows_in": report.rows_in,
        "duplicates": duplicates,
        "gaps": gaps,
        "committed_files_untouched": untouched,
        "resume_seconds": report.seconds,
        "resume_startup_s": report.startup_s,
        "resume_steady_rows_per_s": report.steady_rows_per_s,
        "rerun_written": rerun.written,
        "rerun_seconds": rerun.seconds,
    }
    results.add("crash_and_resume", figures)
    results.text(
        f"## A crash at {crash_after / report.partitions:.0%} and the resume (m3)\n\n"
        f"The job ran as its own process and died (`os._exit`, no cleanup) while "
        f"writing partition {crash_after + 1} of {report.partitions}, after "
        f"{crash_after} commits ({rows_before:,} rows, {crashed_s:.1f} s), leaving "
        f"{len(temp_files)} half-written temporary file. The rerun removed it, skipped "
        f"the {report.skipped} committed partitions "
        f"({'their files untouched' if untouched else 'SOME FILES WERE REWRITTEN'}), "
        f"scored the other {report.written} in {report.seconds:.1f} s, and the output "
        f"holds {report.rows_out:,} rows for {report.rows_in:,} in: **{duplicates} "
        f"duplicates, {gaps} gaps**. Running the finished job again wrote "
        f"{rerun.written} partitions in {rerun.seconds:.2f} s (no Ray work at all)."
    )
    results.table(
        [
            {
                "": "before the crash",
                "partitions committed": crash_after,
                "rows": rows_before,
            },
            {
                "": "after the resume",
                "partitions committed": report.skipped + report.written,
                "rows": report.rows_out,
            },
            {
                "": "input",
                "partitions committed": report.partitions,
                "rows": report.rows_in,
            },
        ],
        title="Rows written before and after the crash",
    )
    return report


def two_nodes(results: Results, setup: measure.Setup, work: Path) -> None:
    """The same job on a two-node local cluster, joined through RAY_ADDRESS."""
    from infra.ray_cluster import local_cluster

    plan = setup.plan
    spec = setup.first_day(work / "cluster")
    parts = select_partitions(plan.partitions, spec.partitions)
    report_path = work / "cluster-report.json"
    started = time.perf_counter()
    with local_cluster(num_nodes=2, cpus_per_node=1, timeout_s=180) as cluster:
        up = time.perf_counter() - started
        job = run_job_process(
            spec,
            work / "cluster.log",
            "--expect-nodes=2",
            "--actors=2",
            f"--report={report_path}",
            env=cluster.env(),
            timeout_s=PROCESS_TIMEOUT_S,
        )
    if job.returncode != 0:
        raise RuntimeError(f"the cluster job failed ({job.returncode}):\n{job.output}")
    report = json.loads(report_path.read_text())
    nodes = report["cluster"]["nodes"]
    rows = [
        {
            "node": f"node {i + 1} ({n['node_id'][:8]})",
            "CPUs": n["cpus"],
            "rows scored": report["rows_by_node"].get(n["node_id"], 0),
            "share": report["rows_by_node"].get(n["node_id"], 0) / report["rows_in"],
        }
        for i, n in enumerate(nodes)
    ]
    results.add(
        "cluster",
        {
            "nodes": len(nodes),
            "cluster_start_s": up,
            "rows": report["rows_in"],
            "partitions": len(parts),
            "seconds": report["seconds"],
            "rows_by_node": report["rows_by_node"],
        },
    )
    on_both = sum(1 for r in rows if r["rows scored"] > 0)
    results.text(
        f"## Two nodes (m5)\n\nTwo `ray start --block` nodes on this machine (1 CPU "
        f"each, their own raylets and object stores, up in {up:.1f} s); the job joined "
        f"through `RAY_ADDRESS`, waited for both nodes, and scored one day "
        f"({report['rows_in']:,} rows, {len(parts)} partitions) in "
        f"{report['seconds']:.1f} s. Work ran on {on_both} of {len(nodes)} nodes:"
    )
    results.table(rows, title="Where the work went")

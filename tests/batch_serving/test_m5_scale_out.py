"""m5 — scale out: the same job on a two-node Ray cluster, sizing, cluster configs.

The cluster is real: two ``ray start --block`` nodes on this machine, each
with its own raylet, object store and ports (``infra.ray_cluster``), and
the job joins it as it would join any cluster, through ``RAY_ADDRESS``.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.ray_cluster import local_cluster
from labs.batch_serving import plan_actors, read_output
from labs.batch_serving.job import build_parser, run_job_process
from labs.batch_serving.plan import JobSpec

INFRA = Path(__file__).resolve().parents[2] / "infra" / "ray"


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.server
@pytest.mark.timeout(600)  # a subprocess job on a busy machine
def test_the_same_job_runs_on_both_nodes_of_a_local_cluster(
    make_spec, offline_scores, tmp_path
) -> None:
    spec = make_spec(tmp_path / "scores")
    report_path = tmp_path / "report.json"
    with local_cluster(num_nodes=2, cpus_per_node=1, timeout_s=180) as cluster:
        job = run_job_process(
            spec,
            tmp_path / "job.log",
            "--expect-nodes=2",
            "--actors=2",
            "--batch-size=1024",
            f"--report={report_path}",
            env=cluster.env(),
            timeout_s=300,
        )
    assert job.returncode == 0, job.output
    report = json.loads(report_path.read_text())
    nodes = {n["node_id"] for n in report["cluster"]["nodes"]}
    assert len(nodes) == 2 and report["cluster"]["cpus"] == 2.0
    assert set(report["rows_by_node"]) == nodes  # both nodes scored rows
    assert all(rows > 0 for rows in report["rows_by_node"].values())
    assert sum(report["rows_by_node"].values()) == report["rows_in"]
    # Every request once, with the offline scores.
    out = read_output(spec.output_dir).set_index("impression_id")["score"].sort_index()
    np.testing.assert_array_equal(out.index.to_numpy(), offline_scores.index.to_numpy())
    np.testing.assert_allclose(
        out.to_numpy(), offline_scores.to_numpy(), rtol=0, atol=1e-9
    )


@pytest.mark.ray
def test_joining_waits_for_the_expected_nodes_and_says_when_they_never_come(
    ray_session,
) -> None:
    import ray

    from labs.batch_serving import connect_cluster

    address = ray.get_runtime_context().gcs_address  # the session's one-node Ray
    info = connect_cluster(address, expect_nodes=1, timeout_s=5)
    assert info.address == address and len(info.nodes) == 1
    assert info.nodes[0]["node_id"] == ray.get_runtime_context().get_node_id()
    assert info.cpus == ray.cluster_resources()["CPU"]
    with pytest.raises(TimeoutError, match="1 of 2 expected nodes"):
        connect_cluster(address, expect_nodes=2, timeout_s=0.5)


@pytest.mark.ray
def test_joining_ships_the_environment_workers_need(ray_session, monkeypatch) -> None:
    """Workers on other machines see the driver's settings only through runtime_env.

    The session's Ray is already up, so joining it is recorded rather than
    done: what matters is what ``connect_cluster`` asks ``init_ray`` for.
    """
    import ray

    import infra.ray_session
    from labs.batch_serving import connect_cluster

    address = ray.get_runtime_context().gcs_address
    monkeypatch.setenv("LABKIT_DATA", "/shared/labkit-data")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setenv("LABKIT_NOT_FOR_WORKERS", "x")  # not in PROPAGATED_ENV
    joins: list[dict] = []
    real = infra.ray_session.init_ray

    def recording(**overrides):
        joins.append(overrides)
        return real(**overrides)  # a no-op: this process is already connected

    monkeypatch.setattr(infra.ray_session, "init_ray", recording)
    connect_cluster(address, expect_nodes=1, timeout_s=5)
    assert len(joins) == 1, "join through infra.ray_session.init_ray, once"
    assert joins[0].get("address") == address
    env_vars = joins[0].get("runtime_env", {}).get("env_vars")
    expected = {"LABKIT_DATA": "/shared/labkit-data", "OMP_NUM_THREADS": "1"}
    if os.environ.get("LABKIT_OVERLAY"):  # under labkit check: the candidate's copy
        expected["LABKIT_OVERLAY"] = os.environ["LABKIT_OVERLAY"]
    assert env_vars == expected


@settings(max_examples=200)
@given(
    rows=st.integers(1, 10**10),
    deadline_s=st.floats(60, 86_400),
    rate=st.floats(100, 1e6),
    startup_s=st.floats(0, 30),
    headroom=st.floats(0, 1),
)
def test_the_actor_plan_is_the_smallest_pool_that_meets_the_deadline(
    rows, deadline_s, rate, startup_s, headroom
) -> None:
    plan = plan_actors(rows, deadline_s, rate, startup_s=startup_s, headroom=headroom)
    budget = deadline_s / (1 + headroom)
    assert math.isclose(plan.budget_s, budget)

    def finishes(n: int) -> float:
        return startup_s + rows / (n * rate)

    assert plan.actors >= 1
    assert math.isclose(plan.expected_s, finishes(plan.actors))
    assert finishes(plan.actors) <= budget * (1 + 1e-9)  # in time
    if plan.actors > 1:
        assert finishes(plan.actors - 1) > budget  # and no smaller pool is
    assert math.isclose(plan.cpus, plan.actors * 0.5)


def test_the_actor_plan_on_a_worked_example() -> None:
    # 500M rows in 6 h at 40k rows/s per actor, 60 s start-up, 25% headroom:
    # budget 4.8 h = 17,280 s, 17,220 s of scoring -> 500e6 / (40e3 · 17,220) = 0.726 -> 1.
    assert plan_actors(500e6, 6 * 3600, 40_000, startup_s=60).actors == 1
    # The same rows in 1 h: budget 2,880 s, 2,820 s scoring -> 4.43 -> 5 actors, 2.5 CPUs.
    plan = plan_actors(500e6, 3600, 40_000, startup_s=60, cluster_cpus=2)
    assert (plan.actors, plan.cpus, plan.fits) == (5, 2.5, False)
    # A pool that uses the cluster's CPUs exactly fits.
    assert plan_actors(500e6, 3600, 40_000, startup_s=60, cluster_cpus=2.5).fits
    with pytest.raises(ValueError, match="no pool size"):
        plan_actors(1e6, 60, 1_000, startup_s=50)


@pytest.mark.given
def test_the_cluster_configs_are_valid_and_run_this_job() -> None:
    import ray

    cluster = yaml.safe_load((INFRA / "cluster.yaml").read_text())
    assert cluster["provider"]["type"]
    assert cluster["head_node_type"] in cluster["available_node_types"]
    assert any("ray start --head" in c for c in cluster["head_start_ray_commands"])
    assert any(
        "--address=$RAY_HEAD_IP" in c for c in cluster["worker_start_ray_commands"]
    )
    assert ray.__version__ in cluster["docker"]["image"]

    job = yaml.safe_load((INFRA / "rayjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    spec = job["spec"]
    assert spec["rayClusterSpec"]["rayVersion"] == ray.__version__
    assert spec["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] >= 1
    assert spec["shutdownAfterJobFinishes"] is True
    argv = shlex.split(spec["entrypoint"])
    assert argv[:3] == ["python", "-m", "labs.batch_serving.job"]
    args = build_parser().parse_args(argv[3:])  # every flag is one the job knows
    workers = sum(g["replicas"] for g in spec["rayClusterSpec"]["workerGroupSpecs"])
    assert args.expect_nodes == workers + 1  # the head and every worker
    env = yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    assert str(args.input).startswith(env["LABKIT_DATA"])


@pytest.mark.given
@pytest.mark.parametrize(
    "store, partitions", [("store", "event_date=*/*"), (None, None)]
)
def test_a_specs_command_line_parses_back_to_the_same_spec(
    tmp_path, store, partitions
) -> None:
    spec = JobSpec(
        tmp_path / "in",
        tmp_path / "out",
        tmp_path / "registry",
        "v0002",
        tmp_path / store if store else None,
        partitions,
    )
    argv = spec.command_line("--actors=2")
    assert argv[1:3] == ["-m", "labs.batch_serving.job"]
    args = build_parser().parse_args(argv[3:])
    again = JobSpec(
        args.input, args.output, args.registry, args.model, args.store, args.partitions
    )
    assert again == spec
    assert args.actors == 2

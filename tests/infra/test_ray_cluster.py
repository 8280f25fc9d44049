"""infra.ray_cluster without starting a cluster: arguments, environment, the CLI.

Starting a real two-node cluster is tested where it is used
(``tests/batch_serving/test_m5_scale_out.py``); these checks are instant.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.ray_cluster import LocalCluster, ray_executable, start_local_cluster


def test_a_cluster_needs_a_node() -> None:
    with pytest.raises(ValueError, match="num_nodes=0"):
        start_local_cluster(num_nodes=0)


def test_the_ray_cli_is_found() -> None:
    assert Path(ray_executable()).name == "ray"


def test_env_points_a_driver_at_the_cluster_and_leaves_the_base_alone() -> None:
    cluster = LocalCluster(
        "127.0.0.1:6399",
        Path("/nonexistent"),
        auth_env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "t0k"},
    )
    base = {"PATH": "/usr/bin", "RAY_ADDRESS": "elsewhere:1"}
    env = cluster.env(base)
    assert env["RAY_ADDRESS"] == "127.0.0.1:6399"
    assert (env["RAY_AUTH_MODE"], env["RAY_AUTH_TOKEN"]) == ("token", "t0k")
    assert env["PATH"] == "/usr/bin"
    assert base["RAY_ADDRESS"] == "elsewhere:1"  # a copy, not the caller's dict
    assert cluster.pids == []

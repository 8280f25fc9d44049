"""The lab's rank programs under Ray Train's ``TorchTrainer``, at world size 2.

Not a milestone check (Ray's start-up costs more than the lab's whole
check), and the suite's longest test (30 s of ``make test``'s Ray worker):
``make test-extended`` (and CI) runs it against the reference. The same data-parallel
program gives the same weights on two Ray Train workers as on two ranks
started by ``infra.torch_dist``, and as one process on the whole batch.
"""

from __future__ import annotations

import pytest

from labs.distributed_training.programs import train_single
from labs.distributed_training.ray_train import run_on_ray
from labs.distributed_training.workload import SIZES

pytestmark = [
    pytest.mark.extended,
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(300),
]


def test_bucketed_ddp_under_ray_train_equals_our_launcher(
    ray_session, ranks, tmp_path
) -> None:
    spec = {"size": SIZES["tiny"], "seed": 3, "rows": [8, 6], "bucket_cap_bytes": 4096}
    on_ray = run_on_ray(
        "labs.distributed_training.programs:train_data_parallel",
        spec,
        num_workers=2,
        cpus_per_worker=0.5,
        storage_path=tmp_path,
    )
    ours = ranks.run("train_data_parallel", spec, world_size=2)
    want = train_single(spec)
    for rank in range(2):
        for name, value in want.items():
            got = on_ray[rank]["state"][name]
            assert (got - ours[rank]["state"][name]).abs().max() < 1e-6, (rank, name)
            assert (got - value).abs().max() < 1e-5, (rank, name)

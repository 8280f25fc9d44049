"""m6 — the data-parallel loop on two plain ``torch.distributed`` ranks, no Ray.

``run_epochs`` is what every Ray Train worker runs. Here it runs on two gloo
ranks started by ``infra.torch_dist`` (seconds, where a ``TorchTrainer``
takes tens of them), so a wrong shard or batch size fails fast. The Ray
tests in ``test_m6_ray.py`` then check the ``TorchTrainer`` around it.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from infra.torch_dist import launch
from labs.training import train_single_process
from labs.training.predictor import logits_in_blocks

pytestmark = pytest.mark.ranks
EPOCHS = 2


def test_two_ranks_of_plain_ddp_match_one_process(encoded) -> None:
    train, valid, sizes, config = encoded
    spec = {
        "config": config.to_dict(),
        "train": train,
        "sizes": list(sizes),
        "epochs": EPOCHS,
    }
    with ThreadPoolExecutor(1) as pool:  # the one-process run, while the ranks start
        one_process = pool.submit(train_single_process, train, sizes, config, EPOCHS)
        first, second = launch(
            "labs.training.distributed:ddp_on_rank", spec, world_size=2, timeout_s=90
        )
        single = one_process.result()
    assert second is None and first is not None
    assert first["rows"] == single.rows - single.rows % 2, (
        f"an epoch used {first['rows']} rows; with 2 workers it is every row of "
        f"the permutation cut to a multiple of 2 ({single.rows - single.rows % 2})"
    )
    ddp = copy.deepcopy(single.model)
    ddp.load_state_dict(first["state"])
    gap = np.abs(logits_in_blocks(ddp, valid) - logits_in_blocks(single.model, valid))
    assert gap.max() < 1e-4, (
        f"two DDP ranks' logits differ from one process's by up to {gap.max():.2g}: "
        "every rank must take the same seeded permutation's [rank::world] shard "
        "and step on batch_size // world rows, so one synchronised step averages "
        "the same batch_size rows one process steps on"
    )

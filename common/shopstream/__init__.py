"""ShopStream: the synthetic shop traffic every pipeline lab runs on.

    from common.shopstream import load, summarize, format_summary
    ds = load("tiny", seed=0)  # generated on first use, then cached on disk
    ds.impressions  # the raw log; also ds.users, ds.items, ds.meta
    print(format_summary(summarize(ds)))

``generate.py`` documents the generative model and the signal it plants.
"""

from common.shopstream.config import PRESETS, ShopStreamConfig, get_config
from common.shopstream.generate import (
    DIRTY_KINDS,
    GENERATOR_VERSION,
    ShopStream,
    dirty_mask,
    generate,
)
from common.shopstream.io import dataset_dir, ensure, is_current, load, read, write
from common.shopstream.signals import point_in_time_sum, signal_figures
from common.shopstream.summary import format_summary, summarize
from common.shopstream.truth import bayes_optimal_auc, expected_bayes_auc, roc_auc

__all__ = [
    "DIRTY_KINDS",
    "GENERATOR_VERSION",
    "PRESETS",
    "ShopStream",
    "ShopStreamConfig",
    "bayes_optimal_auc",
    "dataset_dir",
    "dirty_mask",
    "ensure",
    "expected_bayes_auc",
    "format_summary",
    "generate",
    "get_config",
    "is_current",
    "load",
    "point_in_time_sum",
    "read",
    "roc_auc",
    "signal_figures",
    "summarize",
    "write",
]

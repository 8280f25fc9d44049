"""What is in a ShopStream dataset, in numbers and a few readable lines.

    from common.shopstream import load, summarize, format_summary
    print(format_summary(summarize(load("small"))))

This backs ``labkit data --preset small``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from common.shopstream.generate import ShopStream, dirty_mask
from common.shopstream.signals import epoch_us, signal_figures
from common.shopstream.truth import bayes_optimal_auc, expected_bayes_auc


def top_share(counts: pd.Series, n_keys: int, top: float = 0.01) -> float:
    """Share of all events that belong to the ``top`` fraction of keys.

    Args:
        counts: events per key (keys without events may be absent).
        n_keys: number of keys in the population (users or items table).
        top: fraction of keys, e.g. 0.01 for the top 1%.
    """
    k = max(1, math.ceil(top * n_keys))
    total = counts.sum()
    return float(counts.nlargest(k).sum() / total) if total else 0.0


def summarize(ds: ShopStream, signals: bool = True) -> dict[str, Any]:
    """Measure a dataset: size, rates, skew, the planted signal and its ceiling.

    Args:
        ds: the dataset.
        signals: also compute the windowed signal figures (a few seconds per
            million rows).

    Returns:
        A flat dict of plain numbers and strings (JSON-ready).
    """
    imp = ds.impressions
    dirty = dirty_mask(imp)
    clean = imp[~dirty]
    event = epoch_us(clean["event_timestamp"])
    delay_s = (epoch_us(clean["created_timestamp"]) - event) / 1e6
    config = ds.meta["config"]
    late_after_s = config["late_delay_hours"][0] * 3600.0
    clicked = clean["clicked"].to_numpy()
    p_click = clean["p_click"].to_numpy()
    first = clean["event_timestamp"].min()
    last = clean["event_timestamp"].max()
    out: dict[str, Any] = {
        "seed": config["seed"],
        "first_event": first.isoformat(),
        "last_event": last.isoformat(),
        "days": int(np.ceil((last - first) / pd.Timedelta(days=1))),
        "rows": len(imp),
        "clean_rows": len(clean),
        "dirty_rows": int(dirty.sum()),
        "dirty_by_kind": dict(ds.meta["counts"]["dirty_by_kind"]),
        "users": len(ds.users),
        "active_users": int(clean["user_id"].nunique()),
        "items": len(ds.items),
        "active_items": int(clean["item_id"].nunique()),
        "requests": int(clean["request_id"].nunique()),
        "sessions": ds.meta["counts"]["sessions"],
        "ctr": float(clicked.mean()),
        "late_share": float((delay_s >= late_after_s).mean()),
        "median_delay_s": float(np.median(delay_s)),
        "top1pct_user_share": top_share(clean["user_id"].value_counts(), len(ds.users)),
        "top1pct_item_share": top_share(clean["item_id"].value_counts(), len(ds.items)),
        "bayes_auc": bayes_optimal_auc(clicked, p_click),
        "expected_bayes_auc": expected_bayes_auc(p_click),
    }
    if signals:
        out.update(signal_figures(clean))
    return out


def format_summary(d: dict[str, Any]) -> str:
    """Render :func:`summarize` output as a few aligned lines for a terminal."""
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in d["dirty_by_kind"].items())
    lines = [
        f"ShopStream seed {d['seed']}: {d['first_event'][:10]} to "
        f"{d['last_event'][:10]} ({d['days']} days)",
        f"rows      {d['rows']:,} raw = {d['clean_rows']:,} clean "
        f"+ {d['dirty_rows']:,} dirty ({kinds})",
        f"traffic   {d['requests']:,} requests in {d['sessions']:,} sessions; "
        f"{d['active_users']:,} of {d['users']:,} users, "
        f"{d['active_items']:,} of {d['items']:,} items",
        f"rates     CTR {d['ctr']:.2%}; late (>= 1 h) {d['late_share']:.2%}; "
        f"median ingestion delay {d['median_delay_s']:.0f} s",
        f"hot keys  top 1% of users have {d['top1pct_user_share']:.1%} of "
        f"impressions, top 1% of items {d['top1pct_item_share']:.1%}",
    ]
    if "lift" in d:
        lines += [
            f"signal    CTR after a click by the user in the last hour "
            f"{d['ctr_recent_click']:.2%} vs {d['ctr_no_recent_click']:.2%} "
            f"({d['lift']:.2f}x)",
            f"          item CTR over the last 24 h: AUC {d['item_ctr_24h_auc']:.3f} "
            f"point in time, {d['item_ctr_leaky_auc']:.3f} leaky (whole log)",
        ]
    lines.append(
        f"ceiling   Bayes-optimal AUC {d['bayes_auc']:.3f} "
        f"(expected {d['expected_bayes_auc']:.3f}); p_click is hidden truth, "
        f"not a feature"
    )
    return "\n".join(lines)

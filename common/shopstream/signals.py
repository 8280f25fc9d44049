"""Measure the signal ShopStream plants, point-in-time correct, in numpy.

The figures quoted in ``generate.py`` come from here (and the tests recompute
them independently with DuckDB). "Point-in-time" means a feature for an
impression at event time ``t`` may use a prior row only if that row had
*arrived* by then: ``created_timestamp <= t``, not just ``event_timestamp``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from common.shopstream.truth import roc_auc

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

HOUR_US = 3_600 * 1_000_000
DAY_US = 24 * HOUR_US


def epoch_us(timestamps: pd.Series) -> Ints:
    """Timezone-aware timestamps as int64 microseconds since the epoch."""
    return np.asarray(timestamps.dt.as_unit("us").array.asi8, dtype=np.int64)


def _sum_before(
    key: Ints, time: Ints, value: Floats, q_key: Ints, q_time: Ints, inclusive: bool
) -> Floats:
    """For each query, sum ``value`` over rows with the same key and an earlier time.

    Rows are sorted by (key, time) once; each query is a binary search for
    ``(q_key, q_time)`` in that order and a lookup in the running sum. Keys
    must be dense codes in ``[0, n_keys)`` and times non-negative.
    """
    span = int(max(time.max(initial=0), q_time.max(initial=0))) + 1
    if (int(max(key.max(initial=0), q_key.max(initial=0))) + 1) * span >= 2**62:
        raise OverflowError("too many keys x too long a time range for int64 codes")
    code = key * span + time
    order = np.argsort(code, kind="stable")
    running = np.concatenate([[0.0], np.cumsum(value[order])])
    side: Literal["left", "right"] = "right" if inclusive else "left"
    return running[np.searchsorted(code[order], q_key * span + q_time, side=side)]


def point_in_time_sum(
    key: npt.ArrayLike,
    event_us: npt.ArrayLike,
    created_us: npt.ArrayLike,
    value: npt.ArrayLike,
    window_us: int,
) -> Floats:
    """Windowed sum per row over the rows that had arrived at its event time.

    For row ``r`` with event time ``t``: the sum of ``value[j]`` over rows
    ``j`` with ``key[j] == key[r]``, ``event[j] >= t - window`` and
    ``created[j] <= t``. With ``created >= event`` on every row,

        S(t) = #[created <= t] - #[event < t - w]
               + #_L[event + w < t] - #_L[created <= t],

    where ``L`` holds the rows that arrived more than ``w`` after their event
    (a late row counted out by the second term before it was ever counted in).
    Each term is a binary search, so the whole is O(n log n) and exact.

    Args:
        key: entity id per row (user_id, item_id, ...).
        event_us: event time per row, integer microseconds.
        created_us: ingestion time per row, integer microseconds, >= event.
        value: what to sum (1 to count rows, ``clicked`` to count clicks).
        window_us: window length in microseconds.

    Returns:
        The windowed sum for every row, shape ``(n,)``.
    """
    codes = pd.factorize(np.asarray(key))[0].astype(np.int64)
    event = np.asarray(event_us, dtype=np.int64)
    created = np.asarray(created_us, dtype=np.int64)
    v = np.asarray(value, dtype=np.float64)
    if (created < event).any():
        raise ValueError("created must be >= event on every row; drop dirty rows first")
    if len(event) == 0:
        return np.zeros(0)
    origin = int(event.min()) - window_us - 1
    event, created = event - origin, created - origin  # keeps the codes positive
    # Queries sorted by (key, event) make every binary search below cache-friendly.
    order = np.lexsort((event, codes))
    codes, event, created, v = codes[order], event[order], created[order], v[order]
    total = _sum_before(codes, created, v, codes, event, inclusive=True)
    total -= _sum_before(codes, event, v, codes, event - window_us, inclusive=False)
    late = created - event > window_us
    if late.any():
        k, e, c, lv = codes[late], event[late], created[late], v[late]
        total += _sum_before(k, e + window_us, lv, codes, event, inclusive=False)
        total -= _sum_before(k, c, lv, codes, event, inclusive=True)
    out = np.empty_like(total)
    out[order] = total
    return out


def signal_figures(clean: pd.DataFrame, min_prior: int = 20) -> dict[str, float]:
    """The documented signal of a clean impression log, as plain numbers.

    Args:
        clean: impressions without dirty rows.
        min_prior: rows need this many point-in-time prior impressions of their
            item in the last 24 h to enter the item-CTR AUCs.

    Returns:
        ``ctr_recent_click`` / ``ctr_no_recent_click`` and their ``lift`` (user
        clicked in the previous hour or not); ``item_ctr_24h_auc`` (point in
        time) and ``item_ctr_leaky_auc`` (whole log) on the same
        ``item_auc_rows``.
    """
    event = epoch_us(clean["event_timestamp"])
    created = epoch_us(clean["created_timestamp"])
    clicked = clean["clicked"].to_numpy().astype(np.float64)
    user = clean["user_id"].to_numpy(dtype=np.int64)
    item = clean["item_id"].to_numpy(dtype=np.int64)
    recent = point_in_time_sum(user, event, created, clicked, HOUR_US) > 0
    ones = np.ones(len(clean))
    n_prior = point_in_time_sum(item, event, created, ones, DAY_US)
    c_prior = point_in_time_sum(item, event, created, clicked, DAY_US)
    rows = n_prior >= min_prior
    leaky = clean.groupby("item_id")["clicked"].transform("mean").to_numpy()
    ctr_recent, ctr_none = clicked[recent].mean(), clicked[~recent].mean()
    return {
        "ctr_recent_click": float(ctr_recent),
        "ctr_no_recent_click": float(ctr_none),
        "lift": float(ctr_recent / ctr_none),
        "item_auc_rows": int(rows.sum()),
        "item_ctr_24h_auc": roc_auc(clicked[rows], c_prior[rows] / n_prior[rows]),
        "item_ctr_leaky_auc": roc_auc(clicked[rows], leaky[rows]),
    }

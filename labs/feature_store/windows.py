"""m2 — windowed aggregations, computed as of each event time, without leakage.

    from labs.feature_store.windows import compute_view
    rows = compute_view(view, impressions, computed_at_us=...)

A view's **feature rows** are one per distinct ``(entity, event_timestamp)``
of the entity's own events: at each moment the entity was seen, the value
every aggregation had *as of that moment*. "As of ``t``" means from rows that
had arrived by ``t`` (``created_timestamp ≤ t``): a click logged five hours
late is invisible to a feature computed before it landed, exactly as it was
invisible to the live system. A row never sees itself (it is created after
its own event).

The result is what the point-in-time join reads and what materialisation
copies to the online store::

    entity | event_timestamp | created_timestamp | feature_1 | feature_2 | ...

``created_timestamp`` of a feature row is when the store computed it; it
only breaks ties between rows with the same entity and event time (a
recomputation, a backfill, wins over the row it replaces).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labs.feature_store.schema import from_us
from labs.feature_store.views import FeatureView


def windowed_sum(
    key: np.ndarray,
    event_us: np.ndarray,
    created_us: np.ndarray,
    value: np.ndarray,
    query_key: np.ndarray,
    query_us: np.ndarray,
    window_us: int,
) -> np.ndarray:
    """Windowed sums as of each query time, from the rows that had arrived.

    For each query ``q`` (an entity ``k_q`` and a time ``t_q``)::

        S[q] = Σ_j value[j] · [key[j] = k_q] · [t_q − w ≤ event[j]] · [created[j] ≤ t_q]

    (``event[j] ≤ t_q`` follows from ``event ≤ created``). Counting is
    ``value = 1``. It must be vectorised: O((n + m) log(n + m)) for ``n``
    rows and ``m`` queries, not a loop over queries.

    Args:
        key: entity key per source row, shape ``(n,)`` (any hashable dtype).
        event_us: event time per row, int64 µs.
        created_us: arrival time per row, int64 µs, ``>= event_us``.
        value: what to sum, shape ``(n,)``, or ``(n, v)`` to sum ``v``
            quantities at once (e.g. a column of ones and ``clicked``).
        query_key: entity per query, shape ``(m,)``.
        query_us: as-of time per query, int64 µs.
        window_us: the window ``w`` in µs (> 0).

    Returns:
        ``S``, float64 of shape ``(m,)`` (or ``(m, v)``); exactly ``0.0``
        where the window holds no row, whatever the values.
    """
    event_us = np.asarray(event_us, dtype=np.int64)
    created_us = np.asarray(created_us, dtype=np.int64)
    query_us = np.asarray(query_us, dtype=np.int64)
    value = np.asarray(value, dtype=np.float64)
    shape = (len(query_us), *value.shape[1:])
    if (created_us < event_us).any():
        raise ValueError(
            "windowed_sum needs created >= event on every row; quarantine the "
            "rows that break it first (offline.quarantine_reasons)."
        )
    if len(query_us) == 0 or len(event_us) == 0:
        return np.zeros(shape)
    value = value.reshape(len(event_us), -1)  # (n, v)
    # BEGIN SOLUTION m2: sum the rows with t - w <= event and created <= t, per query
    # One int64 code per (key, time): dense key codes, times shifted to >= 0.
    codes, _ = pd.factorize(np.concatenate([np.asarray(key), np.asarray(query_key)]))
    row_code, query_code = codes[: len(key)], codes[len(key) :]
    origin = min(int(event_us.min()), int(query_us.min())) - window_us - 1
    span = max(int(created_us.max()), int(query_us.max())) - origin + 1
    if (int(codes.max()) + 1) * span >= 2**62:
        raise OverflowError("too many keys over too long a time range for int64 codes")
    probe = query_code * span + (query_us - origin)
    # Optional speed-up: search the probes in sorted order, so the binary
    # searches walk forward through memory; the sums go back to query order
    # at the end. (Stable sorts are near-linear on nearly sorted input.)
    q_order = np.argsort(probe, kind="stable")
    probe = probe[q_order]

    def before(code: np.ndarray, vals: np.ndarray, shift: int, incl: bool):
        """Σ vals, and how many rows, of the query's key with time <= (or <) t + shift.

        ``code`` is (key, time) per row. The running sum runs across keys
        too; the sums of smaller keys are the same in every term, so they cancel.
        """
        order = np.argsort(code, kind="stable")
        running = np.zeros((len(code) + 1, vals.shape[1]))
        np.cumsum(vals[order], axis=0, out=running[1:])
        side = "right" if incl else "left"
        at = np.searchsorted(code[order], probe + shift, side=side)
        return running[at], at

    base = row_code * span - origin
    # Rows that arrived by t, minus rows whose event fell out of the window...
    total, count = before(base + created_us, value, 0, incl=True)
    gone, n_gone = before(base + event_us, value, -window_us, incl=False)
    total -= gone
    count -= n_gone
    # ...but a row that arrived more than w after its event may have been
    # subtracted without having arrived: add back those not arrived by t.
    late = created_us - event_us > window_us
    if late.any():
        back, n_back = before(
            base[late] + event_us[late] + window_us, value[late], 0, incl=False
        )
        early, n_early = before(
            base[late] + created_us[late], value[late], 0, incl=True
        )
        total += back - early
        count += n_back - n_early
    # Differences of running sums keep rounding residue with float values
    # (2.8e-17 where the window holds nothing). Row counts are exact, so an
    # empty window is set to exactly 0.
    total[count == 0] = 0.0
    out = np.empty_like(total)
    out[q_order] = total
    return out.reshape(shape)
    # END SOLUTION


def by_entity_then_time(
    key: np.ndarray, event_us: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The row order sorting by ``(entity, event time)``, and the distinct pairs.

    Returns:
        ``order`` (indices into the rows) and ``first``: a mask over the
        sorted rows, True where a new ``(entity, event time)`` pair starts.
    """
    codes, _ = pd.factorize(key, sort=True)
    if len(event_us) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    span = int(event_us.max()) - int(event_us.min()) + 1
    if (int(codes.max()) + 1) * span < 2**62:  # one int64 sort key: faster than lexsort
        order = np.argsort(codes * span + (event_us - event_us.min()), kind="stable")
    else:
        order = np.lexsort((event_us, codes))
    code, ts = codes[order], event_us[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (code[1:] != code[:-1]) | (ts[1:] != ts[:-1])
    return order, first


def compute_view(
    view: FeatureView, events: pd.DataFrame, computed_at_us: int
) -> pd.DataFrame:
    """Feature rows of ``view``: every aggregation as of each entity event.

    Args:
        view: the definition.
        events: valid source rows with ``view.entity``, ``event_timestamp``,
            ``created_timestamp`` (UTC) and the aggregated columns.
        computed_at_us: stamped as every row's ``created_timestamp``.

    Returns:
        One row per distinct ``(entity, event_timestamp)``, sorted by entity
        then time (the order the point-in-time join sorts into, so its sort
        is nearly free): ``[view.entity, event_timestamp, created_timestamp,
        *features]``, the features as float64 (a ``mean`` over zero rows is NaN).
    """
    # Rows sorted by (entity, event time) make windowed_sum's sorts nearly free.
    order, first = by_entity_then_time(
        events[view.entity].to_numpy(), events["event_timestamp"].array.asi8
    )
    events = events.iloc[order]
    key = events[view.entity].to_numpy()
    event_us = events["event_timestamp"].array.asi8
    created_us = events["created_timestamp"].array.asi8
    point_key, point_us = key[first], event_us[first]  # one feature row per pair
    features: dict[str, np.ndarray] = {}
    # BEGIN SOLUTION m2: compute each aggregation (count, sum, mean) at every feature point
    for window_us in sorted({a.window_us for a in view.aggregations}):
        aggs = [a for a in view.aggregations if a.window_us == window_us]
        columns = sorted({a.column for a in aggs if a.function != "count"})
        # One pass per window: column 0 counts rows, the others sum a column.
        value = np.column_stack(
            [np.ones(len(events))]
            + [events[c].to_numpy(dtype=np.float64) for c in columns]
        )
        sums = windowed_sum(
            key, event_us, created_us, value, point_key, point_us, window_us
        )
        count = sums[:, 0]
        for agg in aggs:
            if agg.function == "count":
                features[agg.name] = count
                continue
            total = sums[:, 1 + columns.index(agg.column)]
            if agg.function == "sum":
                features[agg.name] = total
            else:  # mean: null when the window holds no rows
                with np.errstate(invalid="ignore", divide="ignore"):
                    features[agg.name] = np.where(count > 0, total / count, np.nan)
    # END SOLUTION
    stamp = np.full(len(point_us), computed_at_us, dtype=np.int64)
    rows = pd.DataFrame(
        {
            view.entity: point_key,
            "event_timestamp": from_us(point_us),
            "created_timestamp": from_us(stamp),
        }
    )
    for name in view.feature_names:
        rows[name] = np.asarray(features[name], dtype=np.float64)
    return rows

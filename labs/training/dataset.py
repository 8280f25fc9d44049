"""m1 — the training set: ShopStream labels joined point-in-time to the feature store,
then split by event time.

    from labs.training import load_training_set, time_split
    data = load_training_set("tiny")              # labels + features, one row per impression
    splits = time_split(data.frame, (0.7, 0.15, 0.15), gap=pd.Timedelta("10min"))
    splits.train, splits.valid, splits.test       # train < valid < test in event time

A label is one clean impression and its ``clicked``; its features are what the
feature store knew *at the impression's own event time* (the store's
point-in-time join). The hidden ``p_click`` rides along only so that the
metrics can compute the Bayes-optimal AUC; it is never a feature.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from common.shopstream import ShopStream, dirty_mask, load

log = logging.getLogger(__name__)

KEYS = ("user_id", "item_id")  # what every view's key is, or is derived from
TIME = "event_timestamp"
LABEL = "clicked"
TRUTH = "p_click"  # ground truth: for the Bayes-optimal AUC only, never a feature
LABEL_COLUMNS = ("impression_id", *KEYS, "position", TIME, LABEL, TRUTH)


@dataclass
class TrainingSet:
    """Labels with point-in-time features, sorted by event time.

    Attributes:
        frame: ``impression_id, user_id, item_id, position, event_timestamp,
            clicked, p_click`` and one column per feature, in ``features`` order.
        features: the ``"view:feature"`` names, in model order.
        defaults: the store's declared fill values (counts: 0); features
            without one (rates) stay NaN until the model's preprocessing.
        preset, seed: the ShopStream data it came from.
        fingerprint: a sha256 of the frame's content (keys, times, labels,
            features): any change in the data, the views or the join changes it.
    """

    frame: pd.DataFrame
    features: list[str]
    defaults: dict[str, float]
    preset: str
    seed: int
    fingerprint: str = ""


@dataclass
class Splits:
    """A time-based split: every train row precedes every valid row, and so on.

    Attributes:
        train, valid, test: the rows of each split, in event-time order.
        bounds: per split, the first and last event time it holds.
        cuts: the two cut times ``t1 < t2``: train is ``t < t1``, valid
            ``t1 + gap ≤ t < t2``, test ``t ≥ t2 + gap``.
        gap: the dropped interval after each cut.
        dropped: rows that fell inside a gap (counted, never silently lost).
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    cuts: tuple[pd.Timestamp, pd.Timestamp]
    gap: pd.Timedelta
    dropped: int
    bounds: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "valid": len(self.valid),
            "test": len(self.test),
        }

    def table(self) -> list[dict[str, Any]]:
        """One row per split: rows, clicks, CTR and the event-time range."""
        rows = []
        for name, part in (
            ("train", self.train),
            ("valid", self.valid),
            ("test", self.test),
        ):
            rows.append(
                {
                    "split": name,
                    "rows": len(part),
                    "clicks": int(part[LABEL].sum()),
                    "CTR": float(part[LABEL].mean()) if len(part) else float("nan"),
                    "first event": str(part[TIME].min())[:19],
                    "last event": str(part[TIME].max())[:19],
                }
            )
        return rows


def label_frame(dataset: ShopStream) -> pd.DataFrame:
    """The clean impressions as labels, sorted by ``(event_timestamp, impression_id)``.

    Dirty rows (ShopStream's own oracle, :func:`dirty_mask`) are not labels:
    the feature store quarantined them too.
    """
    clean = dataset.impressions.loc[
        ~dirty_mask(dataset.impressions), list(LABEL_COLUMNS)
    ]
    clean = clean.astype({"user_id": "int64", "clicked": "int8"})
    return clean.sort_values([TIME, "impression_id"], kind="stable").reset_index(
        drop=True
    )


def build_training_set(
    store: Any, labels: pd.DataFrame, features: Sequence[str]
) -> pd.DataFrame:
    """Join every label row to its point-in-time features.

    Args:
        store: a ``labs.feature_store.FeatureStore``.
        labels: :func:`label_frame` rows (``user_id``, ``item_id``,
            timezone-aware ``event_timestamp``, ``clicked``, ...).
        features: ``"view:feature"`` names.

    Returns:
        ``labels`` (same rows, same order, same index) with one column per
        feature, as the store knew it at each row's ``event_timestamp`` and
        within each view's TTL; NaN where the store knew nothing. No defaults
        are filled here: that is the model's documented preprocessing, which
        serving repeats.
    """
    missing = [c for c in (*KEYS, TIME) if c not in labels.columns]
    if missing:
        raise ValueError(
            f"labels lack columns {missing}; build them with label_frame(dataset)."
        )
    # BEGIN SOLUTION m1: the point-in-time join: each row's features as of its own event_timestamp (the store's get_historical_features)
    joined = store.get_historical_features(labels, list(features))
    # END SOLUTION
    if len(joined) != len(labels) or not joined.index.equals(labels.index):
        raise RuntimeError(
            f"the join returned {len(joined)} rows for {len(labels)} labels (or "
            "reordered them); every label must come back once, in order."
        )
    return joined


def fingerprint_frame(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """A sha256 of ``frame[columns]``'s content (row order included)."""
    hashed = pd.util.hash_pandas_object(frame[list(columns)], index=False)
    digest = hashlib.sha256(hashed.to_numpy().tobytes())
    digest.update(",".join(columns).encode())
    return digest.hexdigest()


def load_training_set(
    preset: str = "tiny", seed: int = 0, features: Sequence[str] | None = None
) -> TrainingSet:
    """Labels of ShopStream ``preset`` with point-in-time features from the store.

    Args:
        preset: ``tiny`` (tests), ``small`` (the demo) or ``large``.
        seed: the dataset seed.
        features: ``"view:feature"`` names; every feature of the store by default.
    """
    from labs.feature_store import build_store

    store = build_store(preset, seed)
    try:
        chosen = list(features) if features is not None else store.feature_names()
        labels = label_frame(load(preset, seed))
        frame = build_training_set(store, labels, chosen)
        defaults = store.default_values(chosen)
    finally:
        store.close()
    columns = [*LABEL_COLUMNS, *chosen]
    return TrainingSet(
        frame=frame,
        features=chosen,
        defaults=defaults,
        preset=preset,
        seed=seed,
        fingerprint=fingerprint_frame(frame, columns),
    )


def time_split(
    frame: pd.DataFrame,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    gap: pd.Timedelta | str | None = None,
    time_column: str = TIME,
) -> Splits:
    """Split rows into train < valid < test by event time.

    The cut times are the event times at the ``fractions``' cumulative
    positions of the time-sorted rows: ``t1`` at ``f_train · n`` and ``t2``
    at ``(f_train + f_valid) · n``. A row goes to train if ``t < t1``, to
    valid if ``t1 + gap ≤ t < t2``, to test if ``t ≥ t2 + gap``. Rows with
    equal times (a slate shares one timestamp) always land together, so no
    row of a later split precedes or ties one of an earlier split. The rows
    inside a gap are dropped and counted in ``Splits.dropped``.

    Args:
        frame: rows with a timezone-aware ``time_column``; any order.
        fractions: train, valid and test shares, positive, summing to 1.
        gap: time dropped after each cut (``"10min"``, a ``Timedelta``), so
            that what happens just before a cut cannot inform the rows just
            after it (e.g. a label that lands late). ``None`` means no gap.
        time_column: the event-time column.

    Raises:
        ValueError: bad fractions, a negative gap, a missing or naive time
            column, or a split that comes out empty.
    """
    if len(fractions) != 3 or any(f <= 0 for f in fractions):
        raise ValueError(
            f"fractions must be three positive shares (train, valid, test), got "
            f"{tuple(fractions)}."
        )
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(
            f"fractions must sum to 1, got {sum(fractions)} ({fractions})."
        )
    gap = pd.Timedelta(0) if gap is None else pd.Timedelta(gap)
    if gap < pd.Timedelta(0):
        raise ValueError(f"gap must be zero or positive, got {gap}.")
    if time_column not in frame.columns:
        raise ValueError(f"frame has no {time_column!r} column to split on.")
    times = frame[time_column]
    if getattr(times.dtype, "tz", None) is None:
        raise ValueError(
            f"{time_column!r} must be timezone-aware; use "
            f"df[{time_column!r}].dt.tz_localize('UTC')."
        )
    if len(frame) < 3:
        raise ValueError(f"need at least 3 rows to split, got {len(frame)}.")
    n = len(frame)
    # BEGIN SOLUTION m1: cut times t1, t2 at the fractions' positions of the sorted times; train (t < t1), valid (t1 + gap <= t < t2), test (t >= t2 + gap) frames; dropped = rows in the gaps
    order = np.argsort(times.to_numpy(), kind="stable")
    ordered = frame.iloc[order]
    sorted_times = ordered[time_column]
    t1 = sorted_times.iloc[min(int(fractions[0] * n), n - 1)]
    t2 = sorted_times.iloc[min(int((fractions[0] + fractions[1]) * n), n - 1)]
    train = ordered[(sorted_times < t1).to_numpy()]
    valid = ordered[((sorted_times >= t1 + gap) & (sorted_times < t2)).to_numpy()]
    test = ordered[(sorted_times >= t2 + gap).to_numpy()]
    dropped = n - len(train) - len(valid) - len(test)
    # END SOLUTION
    parts = {"train": train, "valid": valid, "test": test}
    empty = [name for name, part in parts.items() if part.empty]
    if empty:
        raise ValueError(
            f"splits {empty} are empty ({n} rows, fractions {tuple(fractions)}, gap "
            f"{gap}); use more rows, larger fractions or a smaller gap."
        )
    bounds = {
        name: (part[time_column].min(), part[time_column].max())
        for name, part in parts.items()
    }
    if dropped:
        log.info("time_split dropped %d rows inside the %s gaps", dropped, gap)
    return Splits(train, valid, test, (t1, t2), gap, dropped, bounds)

"""The model's preprocessing: raw store features and ids → the arrays the network reads.

    prep = Preprocessor.fit(splits.train, data.features, data.defaults)
    rows = prep.encode(splits.valid, with_label=True)   # Encoded(user, item, dense, label)

Fitted on the training split only, saved as JSON in the registry's metadata,
and applied by serving exactly as in training. Every step is per row, with
constants frozen at fit time (no batch statistics), so a row gets the same
encoding alone or in a batch of a million:

1. **fill** a null feature with ``fill[j]``: the store's declared default
   for counts and sums (0), the training mean for rates (``ctr_24h``);
2. **log1p** the counts and sums (their tails are long);
3. **standardise** with the training mean and standard deviation;
4. **ids → embedding rows**: a :class:`Vocabulary` per key gives every id
   seen at least ``min_count`` times in training its own row; every other
   id (rare, or new since training) shares row 0, the out-of-vocabulary
   bucket, whose embedding learns "a user we know little about".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from labs.training.dataset import KEYS, LABEL

OOV = 0  # the embedding row shared by unknown ids

Frame = pd.DataFrame | Mapping[str, Any]


def column(frame: Frame, name: str, dtype: Any = np.float64) -> np.ndarray:
    """One column of a DataFrame or a mapping of arrays, as a 1-d numpy array."""
    try:
        values = frame[name]
    except KeyError:
        raise KeyError(
            f"the rows have no {name!r} column; every row needs user_id, item_id and "
            "each feature of metadata['features'] (NaN where unknown)."
        ) from None
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if array.ndim == 0:
        array = array.reshape(1)
    return array.astype(dtype, copy=False)


@dataclass
class Vocabulary:
    """Ids with their own embedding row; everything else shares the OOV row 0.

    Attributes:
        key: the id column (``user_id`` or ``item_id``).
        ids: sorted known ids; ``ids[k]`` has embedding row ``k + 1``.
    """

    key: str
    ids: npt.NDArray[np.int64]

    @property
    def size(self) -> int:
        """Embedding rows: the known ids plus the OOV bucket."""
        return len(self.ids) + 1

    @classmethod
    def fit(cls, key: str, ids: npt.ArrayLike, min_count: int = 1) -> Vocabulary:
        """Keep the ids that occur at least ``min_count`` times in ``ids``."""
        values, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        return cls(key, values[counts >= min_count])

    def lookup(self, ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Embedding rows of ``ids``: ``k + 1`` for ``self.ids[k]``, ``OOV`` (0) otherwise.

        Vectorised: one binary search per id, no Python loop or dict.
        """
        query = np.asarray(ids, dtype=np.int64)
        # BEGIN SOLUTION m3: binary-search each id in the sorted vocabulary; a hit is position + 1, a miss the OOV row 0
        if len(self.ids) == 0:
            return np.full(query.shape, OOV, dtype=np.int64)
        position = np.searchsorted(self.ids, query)
        clipped = np.minimum(position, len(self.ids) - 1)
        found = self.ids[clipped] == query
        return np.where(found, clipped + 1, OOV).astype(np.int64)
        # END SOLUTION

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "ids": self.ids.tolist(), "oov_index": OOV}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Vocabulary:
        return cls(d["key"], np.asarray(d["ids"], dtype=np.int64))


@dataclass
class Encoded:
    """Rows ready for the network: ids as embedding rows, dense features, labels."""

    user: npt.NDArray[np.int64]  # (n,)
    item: npt.NDArray[np.int64]  # (n,)
    dense: npt.NDArray[np.float32]  # (n, d)
    label: npt.NDArray[np.float32] | None = None  # (n,)

    def __len__(self) -> int:
        return len(self.user)

    def take(self, index: npt.ArrayLike) -> Encoded:
        idx = np.asarray(index)
        label = None if self.label is None else self.label[idx]
        return Encoded(self.user[idx], self.item[idx], self.dense[idx], label)


@dataclass
class Preprocessor:
    """Frozen per-feature constants and the two vocabularies (see the module doc).

    Attributes:
        features: the ``"view:feature"`` names, in the network's input order.
        fill: the value a null becomes, per feature.
        log1p: whether the feature is compressed with ``log1p``, per feature.
        mean, scale: standardisation after fill and ``log1p``, per feature.
        users, items: the id vocabularies.
    """

    features: list[str]
    fill: list[float]
    log1p: list[bool]
    mean: list[float]
    scale: list[float]
    users: Vocabulary
    items: Vocabulary

    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        features: Sequence[str],
        defaults: Mapping[str, float],
        min_count: int = 5,
    ) -> Preprocessor:
        """Fit on the training rows only (valid and test stay unseen)."""
        if len(train) == 0:
            raise ValueError("cannot fit the preprocessing on an empty training split.")
        features = list(features)
        raw = np.stack([column(train, f) for f in features], axis=1)
        fill, log1p = [], []
        for j, name in enumerate(features):
            if name in defaults:  # counts and sums: the store's default, then log1p
                fill.append(float(defaults[name]))
                log1p.append(True)
            else:  # rates: the training mean of the known values
                known = raw[:, j][~np.isnan(raw[:, j])]
                fill.append(float(known.mean()) if len(known) else 0.0)
                log1p.append(False)
        prep = cls(
            features,
            fill,
            log1p,
            [0.0] * len(features),
            [1.0] * len(features),
            Vocabulary.fit("user_id", column(train, "user_id", np.int64), min_count),
            Vocabulary.fit("item_id", column(train, "item_id", np.int64), min_count),
        )
        transformed = prep._fill_and_compress(raw)
        std = transformed.std(axis=0)
        prep.mean = [float(v) for v in transformed.mean(axis=0)]
        prep.scale = [float(s) if s > 1e-12 else 1.0 for s in std]
        return prep

    def _fill_and_compress(self, raw: np.ndarray) -> np.ndarray:
        filled = np.where(np.isnan(raw), np.asarray(self.fill), raw)
        return np.where(
            np.asarray(self.log1p), np.log1p(np.maximum(filled, 0.0)), filled
        )

    def dense(self, frame: Frame) -> npt.NDArray[np.float32]:
        """The standardised feature matrix, shape ``(n, len(features))``, float32."""
        raw = np.stack([column(frame, f) for f in self.features], axis=1)
        out = (self._fill_and_compress(raw) - np.asarray(self.mean)) / np.asarray(
            self.scale
        )
        return out.astype(np.float32)

    def encode(self, frame: Frame, with_label: bool = False) -> Encoded:
        """Ids → embedding rows and features → the dense matrix (labels if asked)."""
        user_key, item_key = KEYS
        label = column(frame, LABEL, np.float32) if with_label else None
        return Encoded(
            self.users.lookup(column(frame, user_key, np.int64)),
            self.items.lookup(column(frame, item_key, np.int64)),
            self.dense(frame),
            label,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: what the registry's metadata stores."""
        return {
            "features": list(self.features),
            "fill": list(self.fill),
            "log1p": list(self.log1p),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "vocab": {"user_id": self.users.to_dict(), "item_id": self.items.to_dict()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Preprocessor:
        return cls(
            list(d["features"]),
            [float(v) for v in d["fill"]],
            [bool(v) for v in d["log1p"]],
            [float(v) for v in d["mean"]],
            [float(v) for v in d["scale"]],
            Vocabulary.from_dict(d["vocab"]["user_id"]),
            Vocabulary.from_dict(d["vocab"]["item_id"]),
        )

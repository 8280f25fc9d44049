"""The online store interface: latest feature values per entity key, fast.

    from labs.feature_store.online_store import OnlineBatch, open_online_store
    online = open_online_store("sqlite", path="online.db")  # or "redis", "memory"
    online.write_batch("user_activity", OnlineBatch(keys, event_us, created_us,
                                                    values, features))
    read = online.read_batch("user_activity", ["42", "7"], ["clicks_1h"])
    read.found, read.event_us, read.values  # aligned with the requested keys

The interface is deliberately small (the size of Feast v0.20's): write a
batch, read a batch, scan a view (for tests and reports), tear down. It knows
nothing of feature views or aggregations: a *view* is a name, an entity key
is a string, and a row is an event time, a created time and a vector of
floats. So any job can publish through it, e.g. batch scoring writes a view
``"scores"`` with one float per user.

Two rules every backend keeps:

- **Event time wins.** A row replaces the stored row of its key only if its
  ``(event_us, created_us)`` is strictly larger; a late, older row never
  overwrites a newer one, and writing the same batch twice changes nothing.
- **One round trip per read.** ``read_batch`` fetches all keys of a batch
  in one request: a single ``IN (...)`` query, one Redis command.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

OnlineKind = Literal["sqlite", "redis", "memory"]
KINDS: tuple[str, ...] = get_args(OnlineKind)


class OnlineStoreUnavailable(ConnectionError):
    """The backend cannot be reached (e.g. no Redis at the given URL)."""


@dataclass
class OnlineBatch:
    """Rows for one view, column by column.

    Attributes:
        keys: entity keys as strings, shape ``(n,)``.
        event_us: each row's event (feature) time, int64 epoch µs.
        created_us: when each row was produced, int64 epoch µs (breaks ties).
        values: float64 of shape ``(n, f)``; NaN is a null.
        features: the ``f`` feature names, in column order.
    """

    keys: Sequence[str]
    event_us: np.ndarray
    created_us: np.ndarray
    values: np.ndarray
    features: tuple[str, ...]

    def __post_init__(self) -> None:
        self.features = tuple(self.features)
        self.event_us = np.asarray(self.event_us, dtype=np.int64)
        self.created_us = np.asarray(self.created_us, dtype=np.int64)
        self.values = np.asarray(self.values, dtype=np.float64).reshape(
            len(self.event_us), len(self.features)
        )
        n = len(self.keys)
        if not (len(self.event_us) == len(self.created_us) == n):
            raise ValueError(
                f"an OnlineBatch needs one event and created time per key: "
                f"{n} keys, {len(self.event_us)} event times, "
                f"{len(self.created_us)} created times."
            )
        if not all(isinstance(k, str) for k in self.keys):
            raise ValueError("online entity keys must be strings; convert with str().")

    def __len__(self) -> int:
        return len(self.keys)

    def to_frame(self, key: str = "entity_key") -> pd.DataFrame:
        frame = pd.DataFrame(self.values, columns=list(self.features))
        frame.insert(0, key, list(self.keys))
        frame.insert(1, "event_us", self.event_us)
        frame.insert(2, "created_us", self.created_us)
        return frame


@dataclass
class OnlineRead:
    """What ``read_batch`` returns, aligned with the requested keys.

    Attributes:
        found: whether each key has a stored row, shape ``(n,)``.
        event_us: its event time (0 where not found).
        values: float64 ``(n, f)`` for the requested features (NaN where
            not found or null).
    """

    found: np.ndarray
    event_us: np.ndarray
    values: np.ndarray

    @classmethod
    def empty(cls, n: int, f: int) -> OnlineRead:
        return cls(
            np.zeros(n, dtype=bool),
            np.zeros(n, dtype=np.int64),
            np.full((n, f), np.nan),
        )


class OnlineStore(ABC):
    """Latest feature row per ``(view, entity key)``; see the module docstring."""

    kind: str = ""

    @abstractmethod
    def write_batch(self, view: str, batch: OnlineBatch) -> int:
        """Upsert rows where event time wins; return how many keys changed.

        Raises:
            ValueError: ``batch.features`` differ from the features the view
                was first written with (tear the view down to change them).
        """

    @abstractmethod
    def read_batch(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> OnlineRead:
        """Read ``features`` of ``keys`` (repeats allowed) in one round trip.

        A view never written reads as all-missing.

        Raises:
            ValueError: a feature is not stored in the view (lists the stored).
        """

    @abstractmethod
    def scan(self, view: str) -> OnlineBatch:
        """Every stored row of ``view``, sorted by key (for tests and reports)."""

    @abstractmethod
    def teardown(self) -> None:
        """Delete everything this store holds, then release its resources."""

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections; the data stays."""

    def describe(self) -> str:
        return self.kind

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_features(
    view: str, stored: Sequence[str], wanted: Sequence[str]
) -> list[int]:
    """Positions of ``wanted`` in ``stored``; a clear error for unknown names."""
    index = {name: i for i, name in enumerate(stored)}
    unknown = [f for f in wanted if f not in index]
    if unknown:
        raise ValueError(
            f"online view {view!r} stores features {list(stored)}; "
            f"{unknown} are not among them."
        )
    return [index[f] for f in wanted]


def check_schema(
    view: str, stored: Sequence[str] | None, written: Sequence[str]
) -> None:
    """A view keeps the feature list it was first written with."""
    if stored is not None and tuple(stored) != tuple(written):
        raise ValueError(
            f"online view {view!r} holds features {list(stored)}, but the batch has "
            f"{list(written)}; call teardown() (or write under a new view name) "
            "to change a view's features."
        )


def open_online_store(kind: OnlineKind = "sqlite", **options: Any) -> OnlineStore:
    """Open an online store backend by name.

    Args:
        kind: ``"sqlite"`` (embedded default; ``path=``), ``"redis"`` (a real
            server; ``url=``, ``namespace=``) or ``"memory"`` (a dict, this
            process only).
        **options: passed to the backend's constructor.

    Raises:
        ValueError: an unknown kind.
        OnlineStoreUnavailable: the backend cannot be reached.
    """
    if kind == "sqlite":
        from labs.feature_store.online_sqlite import SqliteOnlineStore

        return SqliteOnlineStore(**options)
    if kind == "redis":
        from labs.feature_store.online_redis import RedisOnlineStore

        return RedisOnlineStore(**options)
    if kind == "memory":
        from labs.feature_store.online_memory import MemoryOnlineStore

        return MemoryOnlineStore(**options)
    raise ValueError(f"unknown online store kind {kind!r}; choose one of {KINDS}.")

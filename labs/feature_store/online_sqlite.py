"""The embedded online store: one SQLite table per view, one row per entity.

    online = SqliteOnlineStore("data/my_store/online.db")

Table ``"fs__<view>"``: ``entity_key TEXT PRIMARY KEY, event_ts INTEGER,
created_ts INTEGER`` and one ``REAL`` column per feature (NULL = null), a
``WITHOUT ROWID`` table so a key lookup is one B-tree descent. The file is in
WAL mode, so readers in other processes never wait for a materialisation.
Each thread gets its own connection (SQLite connections are not shared
across threads).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labs.feature_store.online_store import (
    OnlineBatch,
    OnlineRead,
    OnlineStore,
    check_features,
    check_schema,
)

PREFIX = "fs__"
MAX_VARIABLES = 30_000  # below SQLite's default limit of 32,766 per statement


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteOnlineStore(OnlineStore):
    """Online rows in a SQLite file.

    Args:
        path: the database file (created with its folder), or ``":memory:"``.
    """

    kind = "sqlite"

    def __init__(self, path: str | Path = "online.db"):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._columns: dict[str, tuple[str, ...]] = {}  # view -> stored features
        self._selects: dict[tuple[str, tuple[str, ...]], str] = {}  # SELECT prefixes
        self.connection()  # fail now, not at the first read, if the file is unusable

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    # --- plumbing ---------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _table(self, view: str) -> str:
        return _quote(PREFIX + view)

    def stored_features(self, view: str) -> tuple[str, ...] | None:
        """The view's feature columns, or None if the view has no table."""
        if view not in self._columns:
            info = (
                self.connection()
                .execute(f"PRAGMA table_info({self._table(view)})")
                .fetchall()
            )
            if not info:
                return None
            self._columns[view] = tuple(row[1] for row in info[3:])
        return self._columns[view]

    def _ensure_table(self, view: str, features: Sequence[str]) -> str:
        check_schema(view, self.stored_features(view), features)
        self._selects.clear()
        table = self._table(view)
        columns = "".join(f", {_quote(f)} REAL" for f in features)
        self.connection().execute(
            f"CREATE TABLE IF NOT EXISTS {table} (entity_key TEXT PRIMARY KEY, "
            f"event_ts INTEGER NOT NULL, created_ts INTEGER NOT NULL{columns}) "
            "WITHOUT ROWID"
        )
        self._columns[view] = tuple(features)
        return table

    # --- the interface ------------------------------------------------------------
    def write_batch(self, view: str, batch: OnlineBatch) -> int:
        table = self._ensure_table(view, batch.features)
        conn = self.connection()
        values = np.where(np.isnan(batch.values), None, batch.values)  # NaN -> NULL
        rows = list(
            zip(
                batch.keys,
                batch.event_us.tolist(),
                batch.created_us.tolist(),
                *values.T.tolist(),
                strict=True,
            )
        )
        # BEGIN SOLUTION m4: upsert each row only if (event_ts, created_ts) is newer than the stored row
        names = ["entity_key", "event_ts", "created_ts", *batch.features]
        updates = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in names[1:])
        sql = (
            f"INSERT INTO {table} ({', '.join(map(_quote, names))}) "
            f"VALUES ({', '.join('?' * len(names))}) "
            f"ON CONFLICT(entity_key) DO UPDATE SET {updates} "
            f"WHERE (excluded.event_ts, excluded.created_ts) > "
            f"({table}.event_ts, {table}.created_ts)"
        )
        before = conn.total_changes
        # One transaction: the batch lands whole or not at all.
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
        except BaseException:
            # Some errors make SQLite roll back by itself; a second ROLLBACK
            # would then fail and hide the real error. Without a rollback at
            # all, the open transaction would keep the lock from every writer.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return conn.total_changes - before
        # END SOLUTION

    def read_batch(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> OnlineRead:
        stored = self.stored_features(view)
        if stored is None:
            return OnlineRead.empty(len(keys), len(features))
        select = self._selects.get((view, tuple(features)))
        if select is None:
            check_features(view, stored, features)
            columns = ", ".join(_quote(f) for f in features)
            select = f"SELECT entity_key, event_ts, {columns} FROM {self._table(view)}"
            self._selects[view, tuple(features)] = select
        conn = self.connection()
        # BEGIN SOLUTION m5: fetch the batch with one SELECT ... WHERE entity_key IN (...), align rows to keys
        unique = list(dict.fromkeys(keys))
        found_rows: dict[str, tuple] = {}
        for start in range(0, len(unique), MAX_VARIABLES):  # one query unless huge
            chunk = unique[start : start + MAX_VARIABLES]
            sql = f"{select} WHERE entity_key IN ({','.join('?' * len(chunk))})"
            found_rows.update((row[0], row) for row in conn.execute(sql, chunk))
        absent = (None, 0, *([None] * len(features)))  # a missing key's row
        # In request order, repeats too: the IN list returns rows in key order.
        rows = [found_rows.get(key, absent) for key in keys]
        return OnlineRead(
            found=np.array([row is not absent for row in rows], dtype=bool),
            event_us=np.array([row[1] for row in rows], dtype=np.int64),
            values=np.array([row[2:] for row in rows], dtype=np.float64).reshape(
                len(keys), len(features)
            ),  # None (SQL NULL or missing) -> NaN
        )
        # END SOLUTION

    def scan(self, view: str) -> OnlineBatch:
        stored = self.stored_features(view) or ()
        if not self.stored_features(view):
            return OnlineBatch([], [], [], np.zeros((0, 0)), ())
        columns = ", ".join(_quote(f) for f in stored)
        rows = (
            self.connection()
            .execute(
                f"SELECT entity_key, event_ts, created_ts, {columns} "
                f"FROM {self._table(view)} ORDER BY entity_key"
            )
            .fetchall()
        )
        values = np.array([r[3:] for r in rows], dtype=np.float64).reshape(
            len(rows), len(stored)
        )
        return OnlineBatch(
            [r[0] for r in rows],
            np.array([r[1] for r in rows], dtype=np.int64),
            np.array([r[2] for r in rows], dtype=np.int64),
            values,
            stored,
        )

    def views(self) -> list[str]:
        rows = (
            self.connection()
            .execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?",
                (PREFIX + "%",),
            )
            .fetchall()
        )
        return sorted(r[0][len(PREFIX) :] for r in rows)

    def teardown(self) -> None:
        conn = self.connection()
        for view in self.views():
            conn.execute(f"DROP TABLE IF EXISTS {self._table(view)}")
        self._columns.clear()
        self._selects.clear()
        self.close()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

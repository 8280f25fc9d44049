"""The Redis online store: one binary string per (view, entity), read with MGET.

    online = RedisOnlineStore("redis://127.0.0.1:6379/0", namespace="labkit")

Layout: key ``<ns>:<view>:<entity key>`` holds a packed row: event time and
created time as big-endian int64 (so a Lua script can read them with
``struct.unpack('>i8>i8', ...)``) followed by the features as little-endian
float64. ``<ns>:__schema__:<view>`` holds the view's feature names (JSON).

A batch read is one ``MGET schema key1 key2 ...``: a single command, a single
round trip, whatever the batch size. A batch write is a pipeline of a Lua
script per chunk of keys; the script compares timestamps on the server, so
"event time wins" holds even with concurrent writers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import redis

from labs.feature_store.online_store import (
    OnlineBatch,
    OnlineRead,
    OnlineStore,
    OnlineStoreUnavailable,
    check_features,
    check_schema,
)

WRITE_CHUNK = 500  # keys per Lua call: bounded work per command on the server


def row_dtype(n_features: int) -> np.dtype:
    """The packed row: ``>i8`` event, ``>i8`` created, ``<f8`` × features."""
    return np.dtype(
        [("event", ">i8"), ("created", ">i8"), ("values", "<f8", (n_features,))]
    )


def pack_rows(batch: OnlineBatch) -> list[bytes]:
    """One packed byte string per row of ``batch``."""
    dtype = row_dtype(len(batch.features))
    packed = np.empty(len(batch), dtype=dtype)
    packed["event"], packed["created"] = batch.event_us, batch.created_us
    packed["values"] = batch.values
    blob, size = packed.tobytes(), dtype.itemsize
    return [blob[i : i + size] for i in range(0, len(blob), size)]


def unpack_rows(blobs: Sequence[bytes], n_features: int) -> np.ndarray:
    """Packed rows back to a structured array (``event``, ``created``, ``values``)."""
    return np.frombuffer(b"".join(blobs), dtype=row_dtype(n_features))


class RedisOnlineStore(OnlineStore):
    """Online rows in a real Redis server.

    Args:
        url: e.g. ``redis://127.0.0.1:6379/0``.
        namespace: prefix of every key this store writes (``teardown`` deletes
            exactly those).
        connect_timeout_s: how long to wait for the server before giving up.

    Raises:
        OnlineStoreUnavailable: nothing answers at ``url``.
    """

    kind = "redis"

    def __init__(
        self, url: str, namespace: str = "labkit", connect_timeout_s: float = 2.0
    ):
        self.url, self.namespace = url, namespace
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=connect_timeout_s, socket_timeout=30.0
        )
        try:
            self.client.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            self.client.close()
            raise OnlineStoreUnavailable(
                f"cannot reach Redis at {url} ({exc}); start a server (`redis-server "
                "--port <port>`, or infra.redis_server.start_redis() in Python) or "
                "pass the URL of a running one."
            ) from exc
        self._schemas: dict[bytes, tuple[str, ...]] = {}  # schema value -> names

    def describe(self) -> str:
        return f"redis:{self.url}"

    # --- plumbing ---------------------------------------------------------------
    def key(self, view: str, entity_key: str) -> str:
        return f"{self.namespace}:{view}:{entity_key}"

    def schema_key(self, view: str) -> str:
        return f"{self.namespace}:__schema__:{view}"

    def stored_features(self, view: str) -> tuple[str, ...] | None:
        raw = self.client.get(self.schema_key(view))
        return None if raw is None else tuple(json.loads(raw))

    def _decode_schema(self, raw: bytes) -> tuple[str, ...]:
        """Parse a schema value once; later reads hit the cache."""
        if raw not in self._schemas:
            self._schemas[raw] = tuple(json.loads(raw))
        return self._schemas[raw]

    # --- the interface ------------------------------------------------------------
    def write_batch(self, view: str, batch: OnlineBatch) -> int:
        check_schema(view, self.stored_features(view), batch.features)
        self.client.set(self.schema_key(view), json.dumps(list(batch.features)))
        keys = [self.key(view, k) for k in batch.keys]
        rows = pack_rows(batch)
        # BEGIN SOLUTION m4: pipeline a Lua compare-and-set per chunk: write only rows newer by (event, created)
        upsert = self.client.register_script(
            """
            local written = 0
            for i, key in ipairs(KEYS) do
              local new = ARGV[i]
              local old = redis.call('GET', key)
              local take = not old
              if old then
                local oe, oc = struct.unpack('>i8>i8', old)
                local ne, nc = struct.unpack('>i8>i8', new)
                take = ne > oe or (ne == oe and nc > oc)
              end
              if take then
                redis.call('SET', key, new)
                written = written + 1
              end
            end
            return written
            """
        )
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(keys), WRITE_CHUNK):
            stop = start + WRITE_CHUNK
            upsert(keys=keys[start:stop], args=rows[start:stop], client=pipe)
        return int(sum(pipe.execute()))
        # END SOLUTION

    def read_batch(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> OnlineRead:
        n = len(keys)
        # BEGIN SOLUTION m5: one MGET of the schema key and every entity key, then decode
        raw = self.client.mget(
            [self.schema_key(view), *(self.key(view, k) for k in keys)]
        )
        if raw[0] is None:
            return OnlineRead.empty(n, len(features))
        stored = self._decode_schema(raw[0])
        columns = check_features(view, stored, features)
        found = np.array([blob is not None for blob in raw[1:]], dtype=bool)
        read = OnlineRead.empty(n, len(features))
        read.found = found
        if found.any():
            rows = unpack_rows([b for b in raw[1:] if b is not None], len(stored))
            read.event_us[found] = rows["event"]
            read.values[found] = rows["values"][:, columns]
        return read
        # END SOLUTION

    def scan(self, view: str) -> OnlineBatch:
        stored = self.stored_features(view)
        if stored is None:
            return OnlineBatch([], [], [], np.zeros((0, 0)), ())
        prefix = self.key(view, "")
        names = sorted(
            k.decode()[len(prefix) :]
            for k in self.client.scan_iter(match=prefix + "*", count=1000)
        )
        blobs = self.client.mget([prefix + k for k in names]) if names else []
        rows = unpack_rows(blobs, len(stored))
        return OnlineBatch(
            names, rows["event"], rows["created"], rows["values"], stored
        )

    def teardown(self) -> None:
        for batch in _chunks(
            list(self.client.scan_iter(match=f"{self.namespace}:*", count=1000))
        ):
            self.client.unlink(*batch)
        self._schemas.clear()
        self.close()

    def close(self) -> None:
        self.client.close()


def _chunks(items: list, size: int = 1000) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]

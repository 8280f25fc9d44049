"""Keep-alive connections for the open-loop generator: reuse, open, or wait.

    pool = ConnectionPool("127.0.0.1", 8000, limit=256)
    conn = await pool.acquire()      # an idle connection, a new one, or the next freed
    ...                              # write a request, read its response
    pool.release(conn)               # or pool.discard(conn) after an error

A request that is due must leave now, so it takes an idle connection when
there is one and opens a new one while fewer than ``limit`` are open;
otherwise it waits for the next connection released (or the next slot a
discarded one frees), in arrival order. A waiter that times out just as a
connection is handed to it passes that connection on, so none is lost.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class ConnectionPool:
    """Keep-alive connections: reuse an idle one, open one under the limit, or wait."""

    def __init__(self, host: str, port: int, limit: int):
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[Connection] = []
        self.open = 0
        self.opened = 0
        self.waiters: collections.deque[asyncio.Future[Any]] = collections.deque()

    async def connect(self) -> Connection:
        """A new connection, counted against the limit (also to warm the pool)."""
        self.open += 1
        self.opened += 1
        try:
            return await asyncio.open_connection(self.host, self.port)
        except BaseException:
            self.open -= 1
            self._wake_one(None)
            raise

    async def acquire(self) -> Connection:
        """An idle connection, a new one under the limit, or the next one freed."""
        if self.idle:
            return self.idle.pop()
        if self.open < self.limit:
            return await self.connect()
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            conn = await waiter
        except asyncio.CancelledError:
            # Timed out just as a connection (or a free slot) was handed over:
            # pass it on rather than lose it.
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()
                if handed is not None:
                    self.release(handed)
                else:
                    self._wake_one(None)
            raise
        return conn if conn is not None else await self.connect()

    def _wake_one(self, conn: Any) -> bool:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    def release(self, conn: Connection) -> None:
        if not self._wake_one(conn):
            self.idle.append(conn)

    def discard(self, conn: Connection) -> None:
        conn[1].transport.abort()
        self.open -= 1
        self._wake_one(None)

    def close(self) -> None:
        for _, writer in self.idle:
            writer.transport.abort()

"""HTTP/1.1 over raw asyncio streams, for the load generators' own processes.

    host, port = check_loopback(url)                      # loopback only
    request = encode_request(host, port, "/score", "POST", {"user_id": 1})
    writer.write(request)
    status, closes, counted, retry_after = await read_response(reader, None)

A generator must cost much less per request than the server it measures, so
it speaks the protocol itself instead of going through an HTTP client: every
request is pre-encoded bytes (keep-alive, a JSON body), and a response is
read as its head up to the blank line plus ``Content-Length`` (or chunked)
bytes. Both ``infra/closed_loop.py`` and the load_testing lab's open-loop
generator are built on these pieces.

Only loopback hosts are accepted: the generators are for a server on this
machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def check_loopback(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``url``; a ValueError unless it is http on loopback."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(
            f"loadgen speaks plain HTTP only, got {url!r}; pass 'http://127.0.0.1:<port>'."
        )
    host = parts.hostname or ""
    if host not in LOOPBACK:
        raise ValueError(
            f"loadgen only loads servers on this machine (127.0.0.1, localhost, ::1), "
            f"got host {host!r} in {url!r}; start the server locally."
        )
    return host, parts.port or 80


def encode_request(
    host: str, port: int, path: str, method: str = "POST", payload: Any = None
) -> bytes:
    """One request as ready-to-write HTTP/1.1 bytes (keep-alive).

    ``payload`` is sent as a JSON body; ``None`` sends no body (e.g. a GET).
    """
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"{method} {path} HTTP/1.1\r\nHost: {authority}\r\n"
    if payload is None:
        return (head + "\r\n").encode()
    body = json.dumps(payload, separators=(",", ":")).encode()
    return (
        head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _header(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (lower-case) in a raw response head."""
    lower = head.lower()
    start = lower.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    end = lower.find(b"\r\n", start)
    return head[start:end].strip()


class NoResponse(ConnectionError):
    """The connection ended before a single byte of the response came back."""


async def read_response(
    reader: asyncio.StreamReader, count_header: bytes | None
) -> tuple[int, bool, bytes | None, float | None]:
    """Read one response.

    Returns:
        ``(status, whether the server closes the connection, the counted
        header's value, the Retry-After seconds of a 429/503)``.

    Raises:
        NoResponse: not a byte came back (the server had closed the connection).
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise NoResponse("the server closed the connection") from None
        raise
    except ConnectionResetError as exc:
        raise NoResponse(str(exc)) from None
    status = int(head[9:12])
    length = _header(head, b"content-length")
    if length is not None:
        await reader.readexactly(int(length))
    elif (_header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                break
    closes = (_header(head, b"connection") or b"").lower() == b"close"
    counted = _header(head, count_header) if count_header else None
    retry_after = None
    if status in (429, 503):
        with contextlib.suppress(TypeError, ValueError):
            retry_after = float(_header(head, b"retry-after"))  # type: ignore[arg-type]
    return status, closes, counted, retry_after

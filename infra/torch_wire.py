"""Messages between a rank group and its ranks: length-prefixed pickles on a socket.

Only ever on 127.0.0.1, between a parent and the children it started (each
child proves it is one with a random token in its first message). A message
is pickled whole before a byte is written, so a value that cannot be pickled
raises in the sender and never leaves half a message on the wire.
"""

from __future__ import annotations

import pickle
import socket
import struct
from typing import Any

_HEADER = struct.Struct("!Q")  # the payload's length in bytes


def send(sock: socket.socket, message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None  # the peer closed the connection
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(sock: socket.socket) -> Any | None:
    """The next message, or ``None`` when the peer has closed the connection.

    Blocks up to the socket's timeout (``socket.timeout`` after it).
    """
    header = _exactly(sock, _HEADER.size)
    if header is None:
        return None
    payload = _exactly(sock, _HEADER.unpack(header)[0])
    return None if payload is None else pickle.loads(payload)

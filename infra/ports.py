"""Free ports on the loopback interface, starting a server on one, and waiting for it to listen."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

HOST = "127.0.0.1"
PORT_ATTEMPTS = 3
T = TypeVar("T")


class PortTaken(Exception):
    """A server could not bind its port: another process holds it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(n: int, avoid: Iterable[int] = ()) -> list[int]:
    """``n`` different free ports, none of them in ``avoid``.

    Calling :func:`free_port` ``n`` times can return one port twice (each
    socket is closed before the next asks, and the kernel may hand the same
    number out again): a server given one port for two listeners then fails
    to start. Here every socket stays bound until all ``n`` are chosen.
    """
    avoid = set(avoid)
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < n:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
            if port not in avoid:
                ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def wait_for_port(port: int, timeout_s: float, host: str = HOST) -> bool:
    """Poll until something accepts connections on ``host:port``; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False


def start_on_free_port(start: Callable[[int], T], port: int | None = None) -> T:
    """``start(port)``: on ``port`` if given, else on a free one.

    A port :func:`free_port` returned was free then, but another process (a
    client's outgoing connection takes its local port from the same range) can
    take it before the server binds it. When ``start`` raises
    :class:`PortTaken` for a port chosen here, it is tried again on a new one,
    up to ``PORT_ATTEMPTS`` times; a given port is never changed.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return start(port or free_port())
        except PortTaken:
            if port is not None or attempt == PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover

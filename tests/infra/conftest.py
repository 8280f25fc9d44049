"""Fixtures for the infra tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from infra import ports


@pytest.fixture
def first_free_port_taken(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A port another listener holds, which the next ``free_port()`` returns.

    What happens when a process takes the port between ``free_port`` and the
    server's bind (seen in CI). Later calls return free ports as usual.
    """
    real = ports.free_port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((ports.HOST, 0))
        holder.listen()
        taken = int(holder.getsockname()[1])
        first = iter([taken])
        monkeypatch.setattr(ports, "free_port", lambda: next(first, None) or real())
        yield taken

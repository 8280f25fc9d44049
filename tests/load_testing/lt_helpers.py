"""Constants the load-testing tests share (a uniquely named module, unlike ``conftest``)."""

from __future__ import annotations

SERVICE_MS = 10.0  # the slowed server's service time: capacity ≈ 1000 / SERVICE_MS

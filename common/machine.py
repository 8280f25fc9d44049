"""Describe the machine a result was measured on.

Every results file carries this description, because a latency quoted without
its machine cannot be compared with anything.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

_PACKAGES = (
    "numpy",
    "torch",
    "ray",
    "duckdb",
    "pyarrow",
    "fastapi",
    "uvicorn",
    "redis",
    "locust",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.stdout.strip():
                return out.stdout.strip()
        except OSError:
            pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe() -> dict[str, Any]:
    """The machine, OS, Python and key package versions, as a JSON-able dict."""
    return {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in _PACKAGES},
    }


def one_line(description: dict[str, Any] | None = None) -> str:
    """A short human description: '2 cores (Intel Xeon …), 24 GiB, Linux, Python 3.11'."""
    d = description or describe()
    return (
        f"{d['logical_cores']} logical cores ({d['cpu']}), {d['memory_gib']} GiB RAM, "
        f"{d['os']}, Python {d['python']}"
    )

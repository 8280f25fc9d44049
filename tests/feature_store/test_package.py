"""The package loads its modules on first use: a store that never touches Redis never imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.given
def test_importing_the_store_leaves_redis_unimported():
    done = _run(
        "import sys\n"
        "import labs.feature_store as fs\n"
        "fs.FeatureStore, fs.build_store, fs.OnlineBatch\n"
        "assert 'redis' not in sys.modules, 'redis imported eagerly'\n"
        "fs.RedisOnlineStore\n"
        "assert 'redis' in sys.modules, 'RedisOnlineStore without redis?'\n"
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.given
def test_every_exported_name_resolves():
    import labs.feature_store as fs

    for name in fs.__all__:
        assert getattr(fs, name) is not None, name

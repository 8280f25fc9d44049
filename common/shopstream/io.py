"""ShopStream on disk: write, read, and a cache that regenerates when stale.

    from common.shopstream import ensure, load
    path = ensure("small")  # data/shopstream/small-seed0/, generated once
    ds = load("small")  # the same dataset as DataFrames

A dataset directory holds ``users.parquet``, ``items.parquet``,
``impressions.parquet`` (the raw log, one file, sorted by
``created_timestamp`` as it landed from ingestion) and ``meta.json``. The
cache lives at ``<root>/shopstream/<preset>-seed<seed>/`` with ``root``
defaulting to ``$LABKIT_DATA`` or ``./data``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from common.paths import data_dir
from common.shopstream.config import ShopStreamConfig, get_config
from common.shopstream.generate import GENERATOR_VERSION, ShopStream, generate

TABLES = ("users", "items", "impressions")
META = "meta.json"


def write(ds: ShopStream, path: str | Path) -> Path:
    """Write a dataset as three Parquet files and ``meta.json`` into ``path``.

    Args:
        ds: the dataset.
        path: a directory; created if missing, files in it are overwritten.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        frame: pd.DataFrame = getattr(ds, name)
        frame.to_parquet(path / f"{name}.parquet", index=False)
    # meta.json goes last: its presence marks a complete dataset.
    (path / META).write_text(json.dumps(ds.meta, indent=2) + "\n")
    return path


def read(path: str | Path) -> ShopStream:
    """Read a dataset written by :func:`write`.

    Raises:
        FileNotFoundError: if ``path`` is not a complete dataset directory.
    """
    path = Path(path)
    missing = [
        f for f in (*(f"{t}.parquet" for t in TABLES), META) if not (path / f).exists()
    ]
    if missing:
        raise FileNotFoundError(
            f"{path} is not a ShopStream dataset (missing {', '.join(missing)}); "
            f"create one with common.shopstream.ensure() or write()."
        )
    tables = {name: pd.read_parquet(path / f"{name}.parquet") for name in TABLES}
    meta = json.loads((path / META).read_text())
    return ShopStream(meta=meta, **tables)


def dataset_dir(preset: str, seed: int = 0, root: str | Path | None = None) -> Path:
    """The cache directory of a preset and seed (it may not exist yet)."""
    base = Path(root) if root is not None else data_dir()
    return base / "shopstream" / f"{preset}-seed{seed}"


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta: dict[str, Any] = json.loads((path / META).read_text())
    except (OSError, ValueError):
        return None
    return meta


def is_current(path: str | Path, config: ShopStreamConfig) -> bool:
    """True when ``path`` holds a complete dataset made from ``config`` by this code."""
    path = Path(path)
    meta = _read_meta(path)
    if meta is None or not all((path / f"{t}.parquet").exists() for t in TABLES):
        return False
    # Compare through JSON so tuples and lists, dates and strings compare equal.
    wanted = json.loads(json.dumps(config.to_dict()))
    return meta.get("version") == GENERATOR_VERSION and meta.get("config") == wanted


def ensure(preset: str = "tiny", seed: int = 0, root: str | Path | None = None) -> Path:
    """Return the cache directory of a preset, generating the dataset if needed.

    The dataset is regenerated when the directory is missing, incomplete, or
    was made from a different config or generator version. It is written to a
    temporary sibling directory and renamed into place, so an interrupted run
    never leaves a half-written dataset behind.

    Args:
        preset: ``tiny``, ``small`` or ``large`` (see ``config.PRESETS``).
        seed: root seed.
        root: data root; defaults to ``common.paths.data_dir()``.

    Returns:
        The dataset directory, ready for :func:`read`.
    """
    config = get_config(preset, seed)
    target = dataset_dir(preset, seed, root)
    if is_current(target, config):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the dataset is not a secret
    try:
        write(generate(config), tmp)
        if is_current(target, config):
            return target  # another process finished first: keep its copy
        if target.exists():
            # A directory cannot be replaced in one step: move the stale one aside.
            stale = target.with_name(f".{target.name}.stale-{uuid.uuid4().hex[:8]}")
            with contextlib.suppress(FileNotFoundError):  # another process moved it
                target.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:
            # Another process put a dataset there first; keep it if it is current.
            if not is_current(target, config):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load(
    preset: str = "tiny", seed: int = 0, root: str | Path | None = None
) -> ShopStream:
    """Load a preset's dataset from the cache, generating it on first use.

    Args:
        preset: ``tiny``, ``small`` or ``large``.
        seed: root seed.
        root: data root; defaults to ``common.paths.data_dir()``.
    """
    return read(ensure(preset, seed, root))

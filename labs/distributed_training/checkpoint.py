"""m6 — sharded checkpoints that are either whole or invisible.

Each rank writes its own shard (its ZeRO weight shard and Adam moments);
rank 0 then writes a manifest naming every shard with its size and SHA-256.
On disk, for the checkpoint taken after step 5 of a 2-rank job:

    checkpoints/step-000005/shard-0-of-2.pt
    checkpoints/step-000005/shard-1-of-2.pt
    checkpoints/step-000005/MANIFEST.json      # written last: the commit

A rank can die at any instant: halfway through ``write()``, between two
shards, before the manifest. So every file is written **atomically** (to a
temporary file in the same folder, flushed and ``fsync``-ed, renamed over
the final name with ``os.replace``, and the folder ``fsync``-ed so the
rename itself survives a power cut), and a checkpoint **exists only once
its manifest does**, with every shard it names present at the size and
hash it names. A loader that trusts anything less can resume from half a
checkpoint.

Check it: ``labkit check distributed_training`` (m6).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

MANIFEST = "MANIFEST.json"
_STEP_DIR = re.compile(r"^step-(\d{6})$")


def step_dir(folder: Path, step: int) -> Path:
    return Path(folder) / f"step-{step:06d}"


def shard_name(rank: int, world_size: int) -> str:
    return f"shard-{rank}-of-{world_size}.pt"


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (POSIX: fsync the folder)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file so that ``path`` holds either its old content or all of the new.

    Args:
        path: the final name.
        write: writes the content into the open binary file it is given (it
            may fail halfway; then ``path`` must be untouched).

    The temporary file lives in ``path``'s folder (a rename is atomic only
    within one file system) and is removed if ``write`` fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # BEGIN SOLUTION m6: write a temp file in the same folder, flush + fsync it, os.replace it over path, fsync the folder; remove the temp on failure
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    # END SOLUTION


def save_shard(folder: Path, step: int, rank: int, world_size: int, state: Any) -> dict:
    """Write this rank's shard of the checkpoint after ``step``; its manifest entry."""
    path = step_dir(folder, step) / shard_name(rank, world_size)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    atomic_write(path, lambda handle: handle.write(payload))
    return {
        "file": path.name,
        "bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }


def write_manifest(
    folder: Path, step: int, world_size: int, shards: list[dict]
) -> Path:
    """Commit the checkpoint after ``step``: its manifest, written atomically, last."""
    path = step_dir(folder, step) / MANIFEST
    body = {"step": step, "world_size": world_size, "shards": shards}
    atomic_write(path, lambda handle: handle.write(json.dumps(body).encode()))
    return path


def latest_complete(folder: Path, world_size: int) -> int | None:
    """The newest step whose checkpoint is whole, or ``None`` when there is none.

    Whole means: ``MANIFEST.json`` parses, was written for ``world_size``
    ranks, names one shard per rank, and each shard exists with exactly the
    size and SHA-256 the manifest gives. Anything else is a checkpoint cut
    short by a crash and is skipped, never loaded.
    """
    folder = Path(folder)
    if not folder.exists():
        return None
    # BEGIN SOLUTION m6: newest step first; accept it only if its manifest parses, matches world_size, and every shard's size and sha256 match
    steps = sorted(
        (int(m.group(1)) for p in folder.iterdir() if (m := _STEP_DIR.match(p.name))),
        reverse=True,
    )
    for step in steps:
        where = step_dir(folder, step)
        try:
            manifest = json.loads((where / MANIFEST).read_text())
        except (OSError, ValueError):
            continue
        shards = manifest.get("shards", [])
        expected = {shard_name(r, world_size) for r in range(world_size)}
        if (
            manifest.get("world_size") != world_size
            or {s.get("file") for s in shards} != expected
        ):
            continue
        if all(
            (where / s["file"]).is_file()
            and (where / s["file"]).stat().st_size == s["bytes"]
            and sha256(where / s["file"]) == s["sha256"]
            for s in shards
        ):
            return step
    return None
    # END SOLUTION


def load_shard(folder: Path, step: int, rank: int, world_size: int) -> Any:
    """This rank's shard of the checkpoint after ``step``."""
    path = step_dir(folder, step) / shard_name(rank, world_size)
    return torch.load(path, weights_only=True)

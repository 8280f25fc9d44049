"""The job's input: scoring requests as Parquet partitions, one folder per time block.

    from labs.batch_serving.requests import ensure_requests, list_partitions
    root = ensure_requests("tiny")                 # data/batch_serving/requests/tiny-seed0/
    parts = list_partitions(root)                  # [Partition("event_date=2024-03-04/hour=00", ...)]

A request is one (user, item) candidate at one moment: the slates ShopStream
served, replayed. The nightly job scores every request with the model and
the features as they were at the request's ``event_timestamp``, so
re-scoring last month (a backfill) gives exactly what the model would have
said then. The layout is Hive-style, one folder per UTC date and block of
hours::

    <root>/event_date=2024-03-04/hour=00/part-0.parquet
    <root>/event_date=2024-03-04/hour=06/part-0.parquet
    ...

A *partition* is a folder holding ``*.parquet`` files; its name is the path
relative to the root. The job's output mirrors it. Row counts come from the
Parquet footers, so listing a month of input reads no data.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from common.paths import data_dir
from common.shopstream import dirty_mask, ensure, load

log = logging.getLogger(__name__)

ID = "impression_id"  # the row id: every input row comes out exactly once
KEYS = ("user_id", "item_id")  # the entity keys of the feature views
TIME = "event_timestamp"  # features are joined as of this instant
REQUEST_COLUMNS = (ID, "request_id", *KEYS, "position", TIME)
HOURS_PER_PARTITION = 6  # 4 partitions a day: tiny has 12, small 28
ROW_GROUP_ROWS = 16_384  # a read task reads one row group: a block of this many rows
MARKER = "_requests.json"  # written last: its presence marks a complete input


@dataclass(frozen=True)
class Partition:
    """One input folder: its name (relative path), files and row count.

    Attributes:
        name: ``"event_date=2024-03-04/hour=06"``; the output uses the same.
        files: the Parquet files in it, sorted.
        rows: rows in all its files (from the footers).
        bytes: total file size.
    """

    name: str
    files: tuple[Path, ...]
    rows: int
    bytes: int

    @property
    def fingerprint(self) -> str:
        """What identifies the input: file names, sizes and row count."""
        blob = json.dumps(
            [self.name, self.rows, [(f.name, f.stat().st_size) for f in self.files]]
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _hidden(path: Path, root: Path) -> bool:
    """Names starting with ``.`` or ``_`` are bookkeeping (temp files, markers)."""
    return any(part.startswith((".", "_")) for part in path.relative_to(root).parts)


def list_partitions(root: str | Path) -> list[Partition]:
    """Every folder under ``root`` that holds Parquet files, sorted by name.

    Raises:
        ValueError: ``root`` does not exist or holds no Parquet file.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(
            f"input folder {root} does not exist; write the requests first "
            "(labs.batch_serving.requests.write_requests or ensure_requests)."
        )
    by_folder: dict[Path, list[Path]] = {}
    for path in root.rglob("*.parquet"):
        if path.is_file() and not _hidden(path, root):
            by_folder.setdefault(path.parent, []).append(path)
    if not by_folder:
        raise ValueError(
            f"input folder {root} holds no Parquet files (hidden names starting "
            "with '.' or '_' are skipped); point the job at the requests' root."
        )
    partitions = []
    for folder, files in by_folder.items():
        files.sort()
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        partitions.append(
            Partition(
                name=folder.relative_to(root).as_posix(),  # "." for files in root
                files=tuple(files),
                rows=rows,
                bytes=sum(f.stat().st_size for f in files),
            )
        )
    return sorted(partitions, key=lambda p: p.name)


def select_partitions(
    partitions: Sequence[Partition], pattern: str | None
) -> list[Partition]:
    """The partitions whose name matches the glob ``pattern`` (all for ``None``).

    ``"event_date=2024-03-0[4-6]/*"`` selects three days: a backfill range.

    Raises:
        ValueError: nothing matches.
    """
    if pattern is None:
        return list(partitions)
    chosen = [p for p in partitions if fnmatch.fnmatchcase(p.name, pattern)]
    if not chosen:
        names = [p.name for p in partitions]
        raise ValueError(
            f"no input partition matches {pattern!r}; there are {len(names)}, "
            f"from {names[0]!r} to {names[-1]!r}."
        )
    return chosen


def partition_name(ts: pd.Series, hours: int = HOURS_PER_PARTITION) -> pd.Series:
    """``event_date=YYYY-MM-DD/hour=HH`` of each (UTC) timestamp's block of ``hours``."""
    utc = ts.dt.tz_convert("UTC")
    block = (utc.dt.hour // hours) * hours
    return (
        "event_date="
        + utc.dt.strftime("%Y-%m-%d")
        + "/hour="
        + block.map("{:02d}".format)
    )


def write_requests(
    requests: pd.DataFrame, root: str | Path, hours: int = HOURS_PER_PARTITION
) -> list[Partition]:
    """Write ``requests`` as ``<root>/event_date=.../hour=.../part-0.parquet``.

    Rows are sorted by ``(event_timestamp, impression_id)`` within a partition.

    Raises:
        ValueError: a required column is missing or ``impression_id`` repeats.
    """
    missing = [c for c in REQUEST_COLUMNS if c not in requests.columns]
    if missing:
        raise ValueError(
            f"requests lack columns {missing}; need {list(REQUEST_COLUMNS)}."
        )
    if requests[ID].duplicated().any():
        raise ValueError(f"{ID} must be unique: it is how the job proves exactly once.")
    if not 1 <= hours <= 24 or 24 % hours:
        raise ValueError(
            f"hours must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), got {hours}."
        )
    root = Path(root)
    frame = requests[list(REQUEST_COLUMNS)].sort_values([TIME, ID], kind="stable")
    names = partition_name(frame[TIME], hours)
    for name, rows in frame.groupby(names, sort=True):
        folder = root / str(name)
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(rows, preserve_index=False)
        pq.write_table(table, folder / "part-0.parquet", row_group_size=ROW_GROUP_ROWS)
    return list_partitions(root)


def shopstream_requests(preset: str, seed: int = 0) -> pd.DataFrame:
    """ShopStream's clean impressions as requests (the rows the feature store kept)."""
    impressions = load(preset, seed).impressions
    clean = impressions.loc[~dirty_mask(impressions), list(REQUEST_COLUMNS)]
    return clean.astype({"user_id": "int64"})


def requests_dir(preset: str, seed: int = 0) -> Path:
    return data_dir() / "batch_serving" / "requests" / f"{preset}-seed{seed}"


def ensure_requests(
    preset: str = "tiny", seed: int = 0, hours: int = HOURS_PER_PARTITION
) -> Path:
    """The requests of ShopStream ``preset``, written once and reused.

    Built in a temporary sibling folder and renamed into place, so a crash or
    a concurrent build never leaves half an input; rebuilt when the dataset
    version or ``hours`` changes.
    """
    target = requests_dir(preset, seed)
    meta = json.loads((ensure(preset, seed) / "meta.json").read_text())
    wanted = {
        "dataset": meta["version"],
        "config": meta["config"],
        "hours": hours,
        "row_group_rows": ROW_GROUP_ROWS,
    }
    try:
        if json.loads((target / MARKER).read_text()) == wanted:
            return target
    except (OSError, ValueError):
        pass
    log.info("writing %s requests to %s", preset, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        write_requests(shopstream_requests(preset, seed), tmp, hours)
        (tmp / MARKER).write_text(json.dumps(wanted) + "\n")
        if target.exists():
            stale = target.with_name(f".{target.name}.stale-{os.getpid()}")
            target.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / MARKER).exists():  # another process finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def input_rows(partitions: Sequence[Partition]) -> int:
    return sum(p.rows for p in partitions)

"""Atomic Parquet writes: a file is the old one or the new one, never half of one.

    write_parquet(frame, root / "features" / "user_activity.parquet")

The data goes to a hidden temporary name in the same folder, then a rename
puts it in place; a rename within one file system is atomic. So a reader
(a DuckDB scan, a concurrent join) or a crash mid-write never sees a
truncated file, and a stored file that changed is wholly new, which the
as-of index cache (``index_cache.py``) relies on.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(data: pd.DataFrame | pa.Table, path: Path) -> None:
    """Write ``data`` as Parquet at ``path`` (folders created), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = (
        pa.Table.from_pandas(data, preserve_index=False)
        if isinstance(data, pd.DataFrame)
        else data
    )
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)

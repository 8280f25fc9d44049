"""The read task: one Parquet row group in, its rows tagged with their partition out.

Kept apart on purpose, importing only NumPy and PyArrow: Ray runs this
function in many short-lived worker processes, each of which imports the
module it comes from. Importing the scorer's module instead would load
PyTorch, scikit-learn and the feature store into every read task (measured
on the 2-core machine under load: read tasks queued for ~40 s behind those
imports, against ~1 s for this module).

A task is one row group, not one file, so that a big file still spreads
over the actor pool: an actor pool works one block at a time, and a read
task makes one block.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PARTITION = "partition"  # the index of a row's partition in the job's list


def read_tasks(files_by_partition: Sequence[Sequence[Path]]) -> list[dict[str, object]]:
    """One task per row group: ``{"file", "row_group", "partition"}`` (footers only)."""
    tasks: list[dict[str, object]] = []
    for index, files in enumerate(files_by_partition):
        for file in files:
            groups = pq.ParquetFile(file).metadata.num_row_groups
            tasks += [
                {"file": str(file), "row_group": g, PARTITION: index}
                for g in range(groups)
            ]
    return tasks


def read_row_groups(tasks: dict[str, np.ndarray], columns: list[str]) -> pa.Table:
    """Read the row groups of ``tasks``, tagging each row with its partition index."""
    tables = []
    for file, group, index in zip(
        tasks["file"], tasks["row_group"], tasks[PARTITION], strict=True
    ):
        table = pq.ParquetFile(str(file)).read_row_group(int(group), columns=columns)
        tag = pa.array(np.full(table.num_rows, index, dtype=np.int32))
        tables.append(table.append_column(PARTITION, tag))
    return pa.concat_tables(tables)

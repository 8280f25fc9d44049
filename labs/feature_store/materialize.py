"""m4 — materialisation: copy each entity's latest feature row to the online store.

    latest = latest_per_entity(rows, "user_id", ["clicks_1h"], start_us, end_us)
    written = write_online(online, "user_activity", latest, "user_id", ["clicks_1h"])
    report = materialize_views(views, starts, end_us, online=..., watermarks=..., root=...)

The online store holds one row per entity: the latest one. Materialising the
interval ``[start, end]`` picks, per entity, the feature row with the largest
``(event_timestamp, created_timestamp)`` among those with
``start ≤ event_timestamp ≤ end`` and upserts it; the backend's
"event time wins" rule keeps a newer stored row. So rerunning a
materialisation changes nothing, and backfilling an old interval never
rolls an entity back in time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from labs.feature_store.atomic_write import DiskFullError, is_disk_full
from labs.feature_store.feature_files import feature_path
from labs.feature_store.online_store import OnlineBatch, OnlineStore
from labs.feature_store.views import FeatureView
from labs.feature_store.watermarks import Watermarks

WRITE_BATCH_ROWS = 10_000  # rows per write_batch call: bounded memory per call


@dataclass
class MaterializeReport:
    """What one materialisation did, per view."""

    start_us: dict[str, int] = field(default_factory=dict)
    end_us: int = 0
    entities: dict[str, int] = field(default_factory=dict)  # latest rows found
    written: dict[str, int] = field(default_factory=dict)  # rows the store changed
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _feature_rows_sql(
    con: duckdb.DuckDBPyConnection, source: pd.DataFrame | str | Path, entity: str
) -> str:
    """Expose ``source`` to DuckDB; return a table expression with columns
    ``entity, __ts, __created, __frow`` (epoch µs, source row number) and the features."""
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True).assign(__frow=np.arange(len(source)))
        con.register("__rows", frame)
        relation = "__rows"
    else:
        relation = f"read_parquet('{Path(source).as_posix()}', file_row_number = true)"
    frow = "__frow" if isinstance(source, pd.DataFrame) else "file_row_number"
    return (
        f"(SELECT *, epoch_us(event_timestamp) AS __ts, "
        f"epoch_us(created_timestamp) AS __created, {frow} AS __order FROM {relation})"
    )


def latest_per_entity(
    source: pd.DataFrame | str | Path,
    entity: str,
    features: Sequence[str],
    start_us: int,
    end_us: int,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """Each entity's latest feature row within ``[start_us, end_us]``.

    Args:
        source: feature rows (DataFrame or Parquet file) with ``entity``,
            ``event_timestamp``, ``created_timestamp`` and ``features``.
        entity: the key column.
        features: the feature columns to keep.
        start_us: first event time included, epoch µs.
        end_us: last event time included, epoch µs.
        con: the DuckDB connection to use (opening one costs tens of ms).

    Returns:
        One row per entity with a row in the interval: ``[entity, event_us,
        created_us, *features]`` (times as int64 µs). The winner has the
        largest ``(event_timestamp, created_timestamp)``, then is the latest
        in ``source``.
    """
    con = con if con is not None else duckdb.connect()
    rows = _feature_rows_sql(con, source, entity)
    columns = ", ".join(f'"{f}"' for f in features)
    # BEGIN SOLUTION m4: keep rows in [start, end]; per entity, the max (event, created, source order)
    # Filtering the stored column (not __ts) lets DuckDB skip row groups by their
    # stats. A window over every row sorts them all; a GROUP BY max is a hash
    # aggregate, so only the rows at each entity's latest time reach the window
    # that breaks ties (about 10x faster on a full materialisation).
    sql = f"""
        WITH rows AS (
            SELECT * FROM {rows}
            WHERE event_timestamp BETWEEN make_timestamptz({int(start_us)}::BIGINT)
                                      AND make_timestamptz({int(end_us)}::BIGINT)
        ),
        latest AS (SELECT "{entity}", max(__ts) AS __ts FROM rows GROUP BY "{entity}")
        SELECT "{entity}", __ts AS event_us, __created AS created_us, {columns}
        FROM rows JOIN latest USING ("{entity}", __ts)
        QUALIFY row_number() OVER (
            PARTITION BY "{entity}" ORDER BY __created DESC, __order DESC
        ) = 1
        ORDER BY "{entity}"
    """
    return con.execute(sql).df()
    # END SOLUTION


def write_online(
    online: OnlineStore,
    view: str,
    latest: pd.DataFrame,
    entity: str,
    features: Sequence[str],
) -> int:
    """Upsert ``latest`` (from :func:`latest_per_entity`) in bounded batches.

    Returns:
        How many entity rows the store changed (event time wins).
    """
    written = 0
    for start in range(0, len(latest), WRITE_BATCH_ROWS):
        part = latest.iloc[start : start + WRITE_BATCH_ROWS]
        batch = OnlineBatch(
            keys=[str(k) for k in part[entity].tolist()],
            event_us=part["event_us"].to_numpy(dtype=np.int64),
            created_us=part["created_us"].to_numpy(dtype=np.int64),
            values=part[list(features)].to_numpy(dtype=np.float64, na_value=np.nan),
            features=tuple(features),
        )
        written += online.write_batch(view, batch)
    return written


def materialize_views(
    views: Mapping[str, FeatureView],
    starts: dict[str, int],
    end_us: int,
    *,
    online: OnlineStore,
    watermarks: Watermarks,
    root: Path,
    con: duckdb.DuckDBPyConnection | None = None,
) -> MaterializeReport:
    """Materialise ``[starts[view], end_us]`` of each view, then advance its watermark.

    Args:
        views: the store's views by name.
        starts: the first event time (epoch µs) per view to materialise;
            a view whose start is past ``end_us`` writes nothing.
        end_us: the last event time included, epoch µs.
        online: where the rows go.
        watermarks: the online store's watermarks, each moved to ``end_us``
            once its view's rows are written.
        root: the store's folder, which holds the views' feature files.
        con: the DuckDB connection for :func:`latest_per_entity`.

    Raises:
        DiskFullError: the online store or the registry ran out of disk; the
            view being written keeps its watermark.
    """
    report = MaterializeReport(start_us=starts, end_us=end_us)
    began = time.perf_counter()
    for name, start_us in starts.items():
        view = views[name]
        if start_us <= end_us:
            latest = latest_per_entity(
                feature_path(root, name),
                view.entity,
                view.feature_names,
                start_us,
                end_us,
                con=con,
            )
            report.entities[name] = len(latest)
            try:
                report.written[name] = write_online(
                    online, name, latest, view.entity, view.feature_names
                )
            except Exception as exc:
                if not is_disk_full(exc):
                    raise
                raise DiskFullError(
                    f"the disk is full: materialising view {name!r} into "
                    f"{online.describe()} failed ({exc}). Its watermark stays at "
                    f"{watermarks.get(name)}, so the next run starts there again: "
                    "free space and rerun. Batches already written hold each "
                    "entity's latest row, so rewriting them changes nothing.",
                ) from exc
        else:
            report.entities[name] = report.written[name] = 0
        watermarks.advance(name, end_us)
    report.seconds = time.perf_counter() - began
    return report

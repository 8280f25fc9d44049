"""m1 — the offline store: validated impressions in date-partitioned Parquet.

    from labs.feature_store.offline import OfflineStore
    offline = OfflineStore("data/my_store/offline")
    report = offline.ingest(load("tiny").impressions)
    report.written_rows + report.quarantined_rows == report.input_rows  # always
    offline.query("SELECT event_date, count(*) FROM impressions GROUP BY 1")

Layout on disk (Hive partitioning, so DuckDB prunes by date)::

    <root>/impressions/event_date=2024-03-04/part-<batch>.parquet
    <root>/quarantine/part-<batch>.parquet     # rejected rows + a `reason` column

Every ingested row ends up in exactly one of the two: written when it passes
the schema, quarantined with the first rule it breaks otherwise. Nothing is
dropped silently, and the report's counts prove it.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from labs.feature_store.atomic_write import StagedFiles
from labs.feature_store.schema import IMPRESSION_SCHEMA, TIMESTAMP_COLUMNS, to_utc

# The rules a row can break, in the order they are checked; a row is
# quarantined with the first one it breaks.
QUARANTINE_REASONS = (
    "null_value",  # a required field is null (e.g. user_id)
    "negative_position",  # position < 0
    "invalid_clicked",  # clicked not in {0, 1}
    "created_before_event",  # created_timestamp < event_timestamp
    "duplicate_impression_id",  # id already stored, or repeated in the batch
)
_NULLABLE = {"int64": "Int64", "int32": "Int32", "int8": "Int8", "Int64": "Int64"}


@dataclass
class IngestReport:
    """What one ``ingest`` call did; ``input_rows == written + quarantined``."""

    input_rows: int
    written_rows: int
    quarantined_rows: int
    reasons: dict[str, int]  # quarantined rows per reason
    partitions: list[str]  # event dates that received rows
    ignored_columns: list[str] = field(default_factory=list)  # not in the schema

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def coerce_batch(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Check the columns and coerce their types; rows are judged later.

    Integer columns become nullable (``Int64``...) so a null is a row-level
    defect to quarantine, not a crash. Timestamps follow the timestamp rule.

    Returns:
        The coerced frame (schema columns only, original row order) and the
        names of the ignored extra columns.

    Raises:
        ValueError: a required column is missing, cannot be cast, or holds
            naive timestamps.
    """
    if not isinstance(raw, pd.DataFrame):
        raise ValueError(
            f"ingest expects a pandas DataFrame of impressions, got {type(raw).__name__}."
        )
    missing = [c for c in IMPRESSION_SCHEMA if c not in raw.columns]
    if missing:
        raise ValueError(
            f"impressions are missing required columns {missing}; the schema is "
            f"{list(IMPRESSION_SCHEMA)}."
        )
    raw = raw.reset_index(drop=True)  # judge rows by position, whatever the index
    out = {}
    for name, kind in IMPRESSION_SCHEMA.items():
        if kind == "timestamp":
            out[name] = to_utc(raw[name], name)
            continue
        try:
            out[name] = raw[name].astype(_NULLABLE[kind])
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"column {name!r} cannot be read as {kind} (dtype {raw[name].dtype}): "
                f"{exc}"
            ) from exc
    ignored = [c for c in raw.columns if c not in IMPRESSION_SCHEMA]
    return pd.DataFrame(out), ignored


def quarantine_reasons(batch: pd.DataFrame, stored_ids: np.ndarray) -> np.ndarray:
    """The first rule each row breaks, or ``None`` for a valid row.

    Rules, checked in the order of ``QUARANTINE_REASONS``:

    1. ``null_value``: any schema column is null.
    2. ``negative_position``: ``position < 0``.
    3. ``invalid_clicked``: ``clicked`` is not 0 or 1.
    4. ``created_before_event``: ``created_timestamp < event_timestamp``.
    5. ``duplicate_impression_id``: the id is in ``stored_ids``, or another
       row of the batch that passed rules 1–4 has it with an earlier
       ``created_timestamp`` (the first delivery is the real one; on an exact
       tie, the row earlier in the batch: row order, not the ``position``
       column).

    Args:
        batch: the output of :func:`coerce_batch` (nullable integer columns,
            UTC timestamps), ``n`` rows.
        stored_ids: impression ids already in the offline store.

    Returns:
        An object array of shape ``(n,)``: a reason string or ``None``.
    """
    # BEGIN SOLUTION m1: name the first rule each row breaks (None when valid)
    n = len(batch)
    code = np.zeros(n, dtype=np.int8)  # 0 = valid, k = QUARANTINE_REASONS[k - 1]

    def flag(mask: np.ndarray, reason: str) -> None:
        code[(code == 0) & mask] = QUARANTINE_REASONS.index(reason) + 1

    flag(batch.isna().any(axis=1).to_numpy(), "null_value")
    position = batch["position"].to_numpy(dtype=np.int64, na_value=0)
    flag(position < 0, "negative_position")
    clicked = batch["clicked"].to_numpy(dtype=np.int64, na_value=0)
    flag(~np.isin(clicked, (0, 1)), "invalid_clicked")
    event = batch["event_timestamp"].array.asi8
    created = batch["created_timestamp"].array.asi8
    flag(created < event, "created_before_event")

    ids = batch["impression_id"].to_numpy(dtype=np.int64, na_value=-1)
    # Among rows valid so far, the earliest-created copy of an id is the real one.
    rows = np.flatnonzero(code == 0)
    order = rows[np.lexsort((rows, created[rows]))]
    repeat = np.zeros(n, dtype=bool)
    repeat[order] = pd.Series(ids[order]).duplicated(keep="first").to_numpy()
    flag(repeat | np.isin(ids, stored_ids), "duplicate_impression_id")
    names = np.array([None, *QUARANTINE_REASONS], dtype=object)
    return names[code]
    # END SOLUTION


def split_partitions(clean: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Group valid rows by the UTC date of ``event_timestamp``.

    Args:
        clean: valid rows with non-null columns.

    Returns:
        ``[(date "YYYY-MM-DD", rows of that date sorted by event_timestamp)]``
        in date order, with a fresh index; every row appears exactly once.
    """
    # BEGIN SOLUTION m1: group the valid rows by event date, each sorted by event time
    days = clean["event_timestamp"].dt.floor("D")  # midnight UTC of each event
    parts = []
    for day, rows in clean.groupby(days, sort=True):
        rows = rows.sort_values("event_timestamp", kind="stable")
        parts.append((day.strftime("%Y-%m-%d"), rows.reset_index(drop=True)))
    return parts
    # END SOLUTION


def _typed(clean: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer columns back to plain numpy dtypes (no nulls remain)."""
    out = clean.copy()
    for name, kind in IMPRESSION_SCHEMA.items():
        if kind != "timestamp":
            out[name] = out[name].to_numpy(dtype=kind.lower())
    return out


class OfflineStore:
    """Date-partitioned Parquet of valid impressions, queried with DuckDB.

    Args:
        root: the folder holding ``impressions/`` and ``quarantine/``.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.impressions_dir = self.root / "impressions"
        self.quarantine_dir = self.root / "quarantine"
        self._con: duckdb.DuckDBPyConnection | None = None

    # --- writing --------------------------------------------------------------
    def ingest(
        self, raw: pd.DataFrame, stage: StagedFiles | None = None
    ) -> IngestReport:
        """Validate a batch of raw impressions and store it.

        Valid rows go to ``impressions/event_date=<date>/``; the others go to
        ``quarantine/`` with their reason. Re-ingesting rows already stored
        quarantines them as duplicates, so ingestion is idempotent. The
        batch's files appear together or not at all (``atomic_write.py``).

        Args:
            raw: the impressions.
            stage: where to stage the batch's files, for a caller that
                publishes them with its own (the store's registry); by
                default they are published before this returns.

        Raises:
            ValueError: the batch as a whole breaks the schema (missing
                column, uncastable type, naive timestamps); nothing is written.
            DiskFullError: the disk filled up; nothing is written.
        """
        batch, ignored = coerce_batch(raw)
        reasons = quarantine_reasons(batch, self.impression_ids())
        bad = pd.notna(reasons)
        parts = split_partitions(_typed(batch[~bad]))
        written = sum(len(rows) for _, rows in parts)
        if written + int(bad.sum()) != len(batch):
            raise AssertionError(
                f"ingest lost rows: {len(batch)} in, {written} written, "
                f"{int(bad.sum())} quarantined; every row must land somewhere."
            )
        rejected = raw.iloc[np.flatnonzero(bad)].reset_index(drop=True).copy()
        rejected["reason"] = reasons[bad]
        if stage is not None:
            self._stage_batch(stage, parts, rejected)
        else:
            with StagedFiles() as files:
                self._stage_batch(files, parts, rejected)
        counts = pd.Series(reasons[bad]).value_counts()
        return IngestReport(
            input_rows=len(batch),
            written_rows=written,
            quarantined_rows=int(bad.sum()),
            reasons={
                r: int(counts.get(r, 0)) for r in QUARANTINE_REASONS if r in counts
            },
            partitions=[date for date, _ in parts],
            ignored_columns=ignored,
        )

    def _stage_batch(
        self,
        files: StagedFiles,
        parts: list[tuple[str, pd.DataFrame]],
        rejected: pd.DataFrame,
    ) -> None:
        """Stage one batch's partition files and its quarantine file, if any."""
        tag = uuid.uuid4().hex[:12]
        for date, rows in parts:
            files.parquet(
                rows,
                self.impressions_dir / f"event_date={date}" / f"part-{tag}.parquet",
                f"{len(rows):,} impressions of {date}",
            )
        if len(rejected):
            files.parquet(
                rejected,
                self.quarantine_dir / f"part-{tag}.parquet",
                f"{len(rejected):,} quarantined impressions",
            )

    # --- reading --------------------------------------------------------------
    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """This store's DuckDB connection (UTC session), created on first use."""
        if self._con is None:
            self._con = duckdb.connect()
            self._con.execute("SET TimeZone = 'UTC'")
        return self._con

    def files(self) -> list[Path]:
        return sorted(self.impressions_dir.glob("event_date=*/*.parquet"))

    def impressions_sql(self) -> str:
        """A DuckDB table expression over every stored impression file."""
        if not self.files():
            columns = ", ".join(
                f"NULL::{'TIMESTAMPTZ' if k == 'timestamp' else k.upper()} AS {c}"
                for c, k in IMPRESSION_SCHEMA.items()
            )
            return f"(SELECT {columns}, NULL::VARCHAR AS event_date LIMIT 0)"
        glob = (self.impressions_dir / "event_date=*" / "*.parquet").as_posix()
        return f"read_parquet('{glob}', hive_partitioning = true)"

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL in which ``impressions`` names the stored rows."""
        return self.con.execute(
            f"WITH impressions AS (SELECT * FROM {self.impressions_sql()}) {sql}"
        ).df()

    def event_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The first and the last stored ``event_timestamp`` (UTC)."""
        row = self.query(
            "SELECT min(event_timestamp) AS first, max(event_timestamp) AS last "
            "FROM impressions"
        ).iloc[0]
        if pd.isna(row["first"]):
            raise ValueError(
                f"the offline store at {self.root} is empty; ingest first."
            )
        return (
            pd.Timestamp(row["first"]).tz_convert("UTC"),
            pd.Timestamp(row["last"]).tz_convert("UTC"),
        )

    def impression_ids(self) -> np.ndarray:
        if not self.files():
            return np.empty(0, dtype=np.int64)
        rel = self.con.sql(f"SELECT impression_id FROM {self.impressions_sql()}")
        return rel.fetchnumpy()["impression_id"].astype(np.int64)

    def read_impressions(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Every stored impression, sorted by ``(event_timestamp, impression_id)``."""
        wanted = columns or list(IMPRESSION_SCHEMA)
        unknown = [c for c in wanted if c not in IMPRESSION_SCHEMA]
        if unknown:
            raise ValueError(
                f"unknown impression columns {unknown}; valid: {list(IMPRESSION_SCHEMA)}."
            )
        frame = self.query(
            f"SELECT {', '.join(wanted)} FROM impressions "
            "ORDER BY event_timestamp, impression_id"
        )
        for name in TIMESTAMP_COLUMNS:
            if name in frame:
                frame[name] = frame[name].dt.tz_convert("UTC").dt.as_unit("us")
        return frame

    def read_quarantine(self) -> pd.DataFrame:
        """Every quarantined row with its ``reason`` (empty when there is none)."""
        files = sorted(self.quarantine_dir.glob("*.parquet"))
        if not files:
            return pd.DataFrame(columns=[*IMPRESSION_SCHEMA, "reason"])
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

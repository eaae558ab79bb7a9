"""Parquet and CSV exports of the finished tickets, written atomically (temp file + rename)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# The seed schema's columns, in its order; any other columns follow these.
EXPORT_COLUMNS = (
    "ticket_id",
    "subject",
    "body",
    "language",
    "type",
    "queue",
    "priority",
    "tags",
    "first_response",
)
EXTRA_COLUMNS = ("business_type", "product", "topic", "batch")
EXPORT_STEM = "tickets"


@dataclass(frozen=True)
class ExportPaths:
    parquet: Path
    csv: Path


def export_frame(tickets: pd.DataFrame) -> pd.DataFrame:
    """The export's columns in order; a core column no node wrote is exported empty."""
    frame = tickets.sort_values("ticket_id").reset_index(drop=True)
    for column in EXPORT_COLUMNS:
        if column not in frame:
            frame[column] = None
    extras = [c for c in EXTRA_COLUMNS if c in frame]
    return frame[[*EXPORT_COLUMNS, *extras]]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    os.close(handle)
    temp = Path(temp_name)
    try:
        write(temp)
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; exports are for sharing
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def write_exports(tickets: pd.DataFrame, directory: Path) -> ExportPaths:
    frame = export_frame(tickets)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if "tags" in frame and frame["tags"].notna().any():
        table = table.set_column(
            table.schema.get_field_index("tags"),
            pa.field("tags", pa.list_(pa.string())),
            pa.array(
                [list(t) if t is not None else None for t in frame["tags"]], pa.list_(pa.string())
            ),
        )
    paths = ExportPaths(directory / f"{EXPORT_STEM}.parquet", directory / f"{EXPORT_STEM}.csv")
    atomic_write(paths.parquet, lambda p: pq.write_table(table, p, compression="zstd"))
    csv_frame = frame.assign(tags=[",".join(t) if t is not None else "" for t in frame["tags"]])
    csv_table = pa.Table.from_pandas(csv_frame, preserve_index=False)
    atomic_write(paths.csv, lambda p: pacsv.write_csv(csv_table, p))
    return paths


def distribution_tables(tickets: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Row counts per language, type, queue and priority (those present)."""
    return {
        column: tickets[column].value_counts().rename_axis(column).reset_index(name="rows")
        for column in ("language", "type", "queue", "priority")
        if column in tickets
    }

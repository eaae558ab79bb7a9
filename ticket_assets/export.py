"""The export files of the finished tickets, each written atomically (temp file + rename).

Formats (config `export.formats`; Parquet and CSV by default):

- `parquet`, `csv`: the seed schema's columns, then the extras (tags are a list in Parquet,
  comma-joined in CSV) — pyarrow;
- `jsonl`: the same columns, one JSON object per line, tags as a list — DuckDB;
- `wide`: `tickets_wide.csv` in the layout of the public multilingual ticket dataset:
  subject, body, answer (the first response), type, queue, priority and language (both lower
  case, as there), version (`export.version`), tag_1..tag_8 — pyarrow.

With `export.splits` (e.g. train 0.8, validation 0.1, test 0.1) every format is written again
per split (`tickets_train.parquet`, `tickets_wide_test.csv`, ...), stratified by language and
queue and deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ticket_assets.config import ExportConfig
from ticket_assets.core.files import atomic_write
from ticket_assets.core.randomness import stable_rng

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
# The public dataset's layout: one column per tag, up to eight.
WIDE_TAGS = 8
WIDE_COLUMNS = (
    "subject",
    "body",
    "answer",
    "type",
    "queue",
    "priority",
    "language",
    "version",
    *(f"tag_{number}" for number in range(1, WIDE_TAGS + 1)),
)
FORMAT_FILES = {
    "parquet": f"{EXPORT_STEM}.parquet",
    "csv": f"{EXPORT_STEM}.csv",
    "jsonl": f"{EXPORT_STEM}.jsonl",
    "wide": f"{EXPORT_STEM}_wide.csv",
}


@dataclass(frozen=True)
class ExportPaths:
    """Every file written, by key: the format (`parquet`, `csv`, `jsonl`, `wide`), or
    `<format>/<split>` for a split's file."""

    files: Mapping[str, Path]

    @property
    def parquet(self) -> Path:
        return self.files["parquet"]


def export_files(settings: ExportConfig) -> dict[str, str]:
    """The file name of every export, by key (see ExportPaths)."""
    files = {fmt: FORMAT_FILES[fmt] for fmt in settings.formats}
    for split in settings.splits:
        for fmt in settings.formats:
            stem, extension = FORMAT_FILES[fmt].split(".")
            files[f"{fmt}/{split}"] = f"{stem}_{split}.{extension}"
    return files


def export_frame(
    tickets: pd.DataFrame, extra_columns: Sequence[str] = EXTRA_COLUMNS
) -> pd.DataFrame:
    """The export's columns in order; a core column no node wrote is exported empty."""
    frame = tickets.sort_values("ticket_id").reset_index(drop=True)
    for column in EXPORT_COLUMNS:
        if column not in frame:
            frame[column] = None
    extras = [c for c in extra_columns if c in frame and c not in EXPORT_COLUMNS]
    return frame[[*EXPORT_COLUMNS, *extras]]


def _list_columns(frame: pd.DataFrame) -> list[str]:
    """Columns holding lists (tags, list outputs of prompt-defined nodes)."""
    listed = []
    for column in frame.columns:
        values = frame[column].dropna()
        if len(values) and isinstance(values.iloc[0], list | tuple | np.ndarray):
            listed.append(column)
    return listed


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """The frame with list columns as list<string>."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for column in _list_columns(frame):
        values = [list(v) if v is not None else None for v in frame[column]]
        table = table.set_column(
            table.schema.get_field_index(column),
            pa.field(column, pa.list_(pa.string())),
            pa.array(values, pa.list_(pa.string())),
        )
    return table


def _joined(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with list columns comma-joined, for CSV."""
    return frame.assign(
        **{
            column: [",".join(v) if v is not None else "" for v in frame[column]]
            for column in _list_columns(frame)
        }
    )


def wide_frame(frame: pd.DataFrame, version: str) -> pd.DataFrame:
    """`frame` (export columns) in the public dataset's layout."""
    tags = [list(t) if t is not None else [] for t in frame["tags"]]
    wide = pd.DataFrame(
        {
            "subject": frame["subject"],
            "body": frame["body"],
            "answer": frame["first_response"],
            "type": frame["type"],
            "queue": frame["queue"],
            "priority": frame["priority"].str.lower(),
            "language": frame["language"].str.lower(),
            "version": version,
        }
    )
    for number in range(1, WIDE_TAGS + 1):
        wide[f"tag_{number}"] = [t[number - 1] if len(t) >= number else None for t in tags]
    return wide


def split_labels(frame: pd.DataFrame, shares: Mapping[str, float], seed: int) -> pd.Series:
    """Each ticket's split, stratified: within every (language, queue) group the tickets,
    ordered by a seeded draw per ticket id, take the splits in turn by share, so each group
    is divided in the configured proportions up to rounding, the same way for the same seed."""
    names = list(shares)
    bounds = np.cumsum([shares[name] for name in names])
    bounds[-1] = 1.0  # rounding must not leave the last ticket without a split
    draw = [stable_rng(seed, "split", ticket).random() for ticket in frame["ticket_id"]]
    ordered = (
        frame[["language", "queue"]].assign(_draw=draw).sort_values(["language", "queue", "_draw"])
    )
    groups = ordered.groupby(["language", "queue"], dropna=False, sort=False)
    position = (groups.cumcount() + 0.5) / groups["_draw"].transform("size")
    index = np.searchsorted(bounds, position.to_numpy(), side="right")
    return pd.Series(np.array(names)[index], index=ordered.index).reindex(frame.index)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _write_jsonl(table: pa.Table, path: Path) -> None:
    with duckdb.connect() as con:
        con.register("tickets", table)
        con.execute(f"COPY tickets TO {_sql_text(str(path))} (FORMAT JSON)")


def _write(fmt: str, frame: pd.DataFrame, path: Path, version: str) -> None:
    if fmt == "parquet":
        table = _arrow_table(frame)
        atomic_write(path, lambda p: pq.write_table(table, p, compression="zstd"))
    elif fmt == "csv":
        table = pa.Table.from_pandas(_joined(frame), preserve_index=False)
        atomic_write(path, lambda p: pacsv.write_csv(table, p))
    elif fmt == "jsonl":
        table = _arrow_table(frame)
        atomic_write(path, lambda p: _write_jsonl(table, p))
    else:
        table = pa.Table.from_pandas(wide_frame(frame, version), preserve_index=False)
        atomic_write(path, lambda p: pacsv.write_csv(table, p))


def write_exports(
    tickets: pd.DataFrame,
    directory: Path,
    settings: ExportConfig | None = None,
    *,
    seed: int = 0,
    extra_columns: Sequence[str] = EXTRA_COLUMNS,
) -> ExportPaths:
    """Write every configured export of `tickets` into `directory`."""
    settings = settings or ExportConfig()
    frame = export_frame(tickets, extra_columns)
    frames = {None: frame}
    if settings.splits:
        labels = split_labels(frame, settings.splits, seed)
        frames.update({split: frame[labels == split] for split in settings.splits})
    names = export_files(settings)
    paths = {}
    for split, part in frames.items():
        for fmt in settings.formats:
            key = fmt if split is None else f"{fmt}/{split}"
            paths[key] = directory / names[key]
            _write(fmt, part.reset_index(drop=True), paths[key], settings.version)
    return ExportPaths(paths)


def distribution_tables(tickets: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Row counts per language, type, queue and priority (those present)."""
    return {
        column: tickets[column].value_counts().rename_axis(column).reset_index(name="rows")
        for column in ("language", "type", "queue", "priority")
        if column in tickets
    }

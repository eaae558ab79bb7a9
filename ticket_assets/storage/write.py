"""The store's write path: atomic partition rewrites, schema evolution, rejects, the ledger,
whole-table replacements and the registry of dataset codes.

Guarantees of `TicketStore.write_partitions`:

- One transaction per write (`BEGIN; DELETE; INSERT ... BY NAME; COMMIT`): a failure at any
  point leaves the old rows exactly as they were. (The stock dagster-duckdb I/O manager deletes
  and inserts in separate autocommitted statements, positionally.)
- Columns are matched by name, so a frame with reordered columns lands in the right columns.
- Schema evolution inside the same transaction: a new frame column is added (old rows get NULL);
  a column missing from the frame is NULL in the new rows; a numeric column widens along
  TINYINT < SMALLINT < INTEGER < BIGINT < FLOAT < DOUBLE; a column with no values left outside
  the rewritten partitions is retyped to the frame's type (nothing to lose). Any other type
  change raises `SchemaMismatchError` naming table, column, stored and new type.
- Untyped frame columns (all-null object columns, every column of an empty frame, lists that
  are all empty) are stored as VARCHAR / VARCHAR[] and fit any existing column; pandas
  categoricals (DuckDB ENUM) are stored as VARCHAR.
- The listed partitions are replaced by exactly the frame's rows: a listed partition without
  rows in the frame ends up empty (that is how an empty partition is written, explicitly);
  partitions not listed are never touched, and frame rows outside the list raise ValueError.
- In the same transaction, ledger rows are appended (each call id once: a call already booked,
  e.g. folded from the journal of paid calls, is not booked again) and the node's quarantined
  tickets of those partitions are replaced in the `rejects` table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import duckdb
import pandas as pd

from ticket_assets.storage.connection import (
    PARTITION_COLUMNS,
    SELECTION_VIEW,
    Partition,
    StoreConnection,
    quote_ident,
    scalar,
    selection_frame,
    table_columns,
)
from ticket_assets.storage.errors import StoreError

DATASETS_TABLE = "_datasets"
REJECTS_TABLE = "rejects"
# Quarantined tickets: one row per node and ticket whose answer stayed invalid.
REJECT_COLUMNS = {
    "node": "VARCHAR",
    "ticket_id": "VARCHAR",
    "language": "VARCHAR",
    "batch": "VARCHAR",
    "reason": "VARCHAR",
    "attempts": "INTEGER",
    "model": "VARCHAR",
    "run_id": "VARCHAR",
    "recorded_at": "TIMESTAMP WITH TIME ZONE",
}
UNIQUE_CALL_COLUMN = "call_id"
MAX_DATASET_CODE = 999

# Lossless-enough widening order for numeric columns (pandas int NaN -> float is the usual case).
_NUMERIC_RANK = {"TINYINT": 0, "SMALLINT": 1, "INTEGER": 2, "BIGINT": 3, "FLOAT": 4, "DOUBLE": 5}
_UNTYPED = '"NULL"'  # how DuckDB names the type of a pandas column holding only None
_FRAME_VIEW = "__ticket_store_frame"


class SchemaMismatchError(StoreError):
    """A frame column's type cannot be stored in the existing column."""


class StoreWrites(StoreConnection):
    """Writing ticket tables (mixed into `TicketStore`)."""

    def write_partitions(
        self,
        table: str,
        frame: pd.DataFrame,
        partitions: Sequence[Partition],
        *,
        appended: Mapping[str, pd.DataFrame] | None = None,
        rejects: pd.DataFrame | None = None,
    ) -> int:
        """Replace the rows of `partitions` ((language, batch) pairs) with `frame` atomically,
        and in the same transaction append `appended` rows to other tables (the LLM ledger:
        it is written exactly when the data it paid for is) and, when `rejects` is given,
        replace the quarantined tickets of node `table` in those partitions with its rows.

        Returns the number of rows written. See the module docstring for the guarantees.
        """
        selection = selection_frame(partitions)
        if selection.empty:
            raise ValueError(f"write_partitions({table!r}) got no partitions to write")
        _check_columns(table, frame)
        _check_rows_inside(table, frame, partitions)
        qualified = self.qualified(table)

        def write(con: duckdb.DuckDBPyConnection) -> None:
            con.register(_FRAME_VIEW, frame)
            con.register(SELECTION_VIEW, selection)
            frame_types = _frame_types(con, frame)
            definitions = ", ".join(
                f"{quote_ident(name)} {_storage_type(kind)}" for name, kind in frame_types.items()
            )
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {self.qualified_schema()}")
            con.execute(f"CREATE TABLE IF NOT EXISTS {qualified} ({definitions})")
            # Before the DELETE: DuckDB refuses to commit a delete followed by an ALTER of the
            # same table. Retyping still ignores the rows being replaced (`replaced=True`).
            self._reconcile_columns(con, table, frame_types, replaced=True)
            con.execute(
                f"DELETE FROM {qualified} AS t USING {SELECTION_VIEW} AS s"
                " WHERE t.language = s.language AND t.batch = s.batch"
            )
            con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM {_FRAME_VIEW}")
            for other, rows in (appended or {}).items():
                self._append(con, other, rows)
            if rejects is not None:
                self._replace_rejects(con, table, rejects)

        self.in_transaction(write)
        return len(frame)

    def _replace_rejects(
        self, con: duckdb.DuckDBPyConnection, node: str, rows: pd.DataFrame
    ) -> None:
        """The node's quarantined tickets in the selected partitions become `rows`: tickets
        that now have a valid answer leave the table."""
        qualified = self.qualified(REJECTS_TABLE)
        columns = ", ".join(f"{quote_ident(n)} {kind}" for n, kind in REJECT_COLUMNS.items())
        con.execute(f"CREATE TABLE IF NOT EXISTS {qualified} ({columns})")
        con.execute(
            f"DELETE FROM {qualified} AS t USING {SELECTION_VIEW} AS s"
            " WHERE t.node = ? AND t.language = s.language AND t.batch = s.batch",
            [node],
        )
        if not rows.empty:
            view = f"{_FRAME_VIEW}_rejects"
            con.register(view, rows[list(REJECT_COLUMNS)])
            con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM {view}")
            con.unregister(view)

    def append_rows(self, table: str, rows: pd.DataFrame) -> int:
        """Append rows to a table (created on first use) in one transaction."""
        self.in_transaction(lambda con: self._append(con, table, rows))
        return len(rows)

    def _append(self, con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        view = f"{_FRAME_VIEW}_append"
        con.register(view, rows)
        frame_types = _frame_types(con, rows, view)
        definitions = ", ".join(
            f"{quote_ident(name)} {_storage_type(kind)}" for name, kind in frame_types.items()
        )
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {self.qualified_schema()}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified(table)} ({definitions})")
        self._reconcile_columns(con, table, frame_types)
        query = f"INSERT INTO {self.qualified(table)} BY NAME SELECT * FROM {view}"
        if UNIQUE_CALL_COLUMN in rows.columns:
            column = quote_ident(UNIQUE_CALL_COLUMN)
            query += (
                f" WHERE {column} NOT IN (SELECT {column} FROM {self.qualified(table)}"
                f" WHERE {column} IS NOT NULL)"
            )
        con.execute(query)
        con.unregister(view)

    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        """Replace a whole (unpartitioned) table with `frame` atomically; returns rows written."""
        _check_columns(table, frame, partitioned=False)

        def replace(con: duckdb.DuckDBPyConnection) -> None:
            con.register(_FRAME_VIEW, frame)
            columns = ", ".join(
                quote_ident(name)
                if _storage_type(kind) == kind
                else f"CAST({quote_ident(name)} AS {_storage_type(kind)}) AS {quote_ident(name)}"
                for name, kind in _frame_types(con, frame).items()
            )
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {self.qualified_schema()}")
            con.execute(
                f"CREATE OR REPLACE TABLE {self.qualified(table)} AS"
                f" SELECT {columns} FROM {_FRAME_VIEW}"
            )

        self.in_transaction(replace)
        return len(frame)

    def dataset_code(self, dataset: str) -> int:
        """The dataset's code (0-999), allocated once as the smallest free code and kept.

        The registry is `main._datasets` (name, code, created_at) of the database file or
        lake, shared by all its schemas, so codes are distinct across its datasets. A new code
        is registered by replacing the whole (small) table: two processes registering at once
        then conflict, even in a DuckLake (which has no unique constraints), and the one
        retried sees the other's code.
        """
        registry = self.qualified(DATASETS_TABLE, schema="main")

        def register(con: duckdb.DuckDBPyConnection) -> int:
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {registry}"
                " (name VARCHAR, code INTEGER, created_at TIMESTAMP)"
            )
            code = scalar(con, f"SELECT min(code) FROM {registry} WHERE name = ?", [dataset])
            if code is not None:
                return int(code)
            free = scalar(
                con,
                f"SELECT min(c.code) FROM range(?) AS c(code)"
                f" WHERE c.code NOT IN (SELECT code FROM {registry})",
                [MAX_DATASET_CODE + 1],
            )
            if free is None:
                raise StoreError(
                    f"{self.backend}: all {MAX_DATASET_CODE + 1} dataset codes are taken;"
                    f" cannot register dataset {dataset!r}. Use another database."
                )
            con.execute(
                f"CREATE OR REPLACE TABLE {registry} AS SELECT * FROM {registry}"
                " UNION ALL SELECT ?::VARCHAR, ?::INTEGER, ?::TIMESTAMP",
                [dataset, int(free), datetime.now(UTC).replace(tzinfo=None)],
            )
            return int(free)

        return self.in_transaction(register)

    def _reconcile_columns(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        frame_types: dict[str, str],
        *,
        replaced: bool = False,
    ) -> None:
        """Make the table able to take the frame's columns (inside the write transaction).
        `replaced`: the rows of the registered selection are about to be replaced, so a column
        counts as empty when only those rows hold values."""
        qualified = self.qualified(table)
        stored = table_columns(con, qualified) or {}
        for name, kind in frame_types.items():
            column = quote_ident(name)
            target = _storage_type(kind)
            stored_kind = stored.get(name.lower())
            if stored_kind is None:
                con.execute(f"ALTER TABLE {qualified} ADD COLUMN {column} {target}")
            elif _fits(kind, stored_kind):
                continue
            elif _widens(stored_kind, kind):
                con.execute(f"ALTER TABLE {qualified} ALTER COLUMN {column} SET DATA TYPE {target}")
            elif _column_is_empty(con, qualified, column, replaced=replaced):
                con.execute(
                    f"ALTER TABLE {qualified} ALTER COLUMN {column} SET DATA TYPE {target}"
                    f" USING CAST(NULL AS {target})"
                )
            else:
                raise SchemaMismatchError(
                    f"Table {self.schema}.{table}, column {name!r}: stored as {stored_kind},"
                    f" the new frame has {kind}. Cast the column in the asset to {stored_kind},"
                    " or drop the table and rematerialize all its partitions."
                )


def _check_columns(table: str, frame: pd.DataFrame, *, partitioned: bool = True) -> None:
    names = [str(name).lower() for name in frame.columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        # DuckDB column names are case-insensitive, so "Tags" and "tags" collide.
        raise ValueError(f"Frame for {table!r} has duplicate columns: {duplicates}")
    missing = [name for name in PARTITION_COLUMNS if name not in frame.columns]
    if partitioned and missing:
        raise ValueError(f"Frame for {table!r} lacks the partition columns {missing}")


def _check_rows_inside(table: str, frame: pd.DataFrame, partitions: Sequence[Partition]) -> None:
    selected = set(partitions)
    present = set(zip(frame["language"], frame["batch"], strict=True))
    outside = sorted(present - selected, key=str)
    if outside:
        raise ValueError(
            f"Frame for {table!r} has rows outside the partitions being written"
            f" ((language, batch) pairs {outside}); selected: {sorted(selected)}"
        )


def _frame_types(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, view: str = _FRAME_VIEW
) -> dict[str, str]:
    """Column name -> DuckDB type of the registered frame, as DuckDB's pandas scan sees it."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
    if frame.empty:
        # No values, so no types worth keeping (pandas makes empty columns float64).
        return {row[0]: _UNTYPED for row in rows}
    return {row[0]: _untyped(frame[row[0]]) or row[1] for row in rows}


def _untyped(column: pd.Series) -> str | None:
    """`"NULL"` for an object column holding only None, `"NULL"[]` for one holding only empty
    (or all-None) lists: DuckDB's pandas scan guesses INTEGER / INTEGER[] for those."""
    if column.dtype != object:
        return None
    values = column.dropna()
    if values.empty:
        return _UNTYPED
    if all(isinstance(v, list) and all(item is None for item in v) for v in values):
        return f"{_UNTYPED}[]"
    return None


def _storage_type(frame_type: str) -> str:
    """Type a frame column is stored as: untyped -> VARCHAR, categorical (ENUM) -> VARCHAR."""
    if frame_type.startswith("ENUM("):
        return "VARCHAR"
    return frame_type.replace(_UNTYPED, "VARCHAR")


def _fits(frame_type: str, stored_type: str) -> bool:
    """Whether frame values insert into the stored column without loss."""
    if frame_type == _UNTYPED or _storage_type(frame_type) == stored_type:
        return True
    if frame_type == f"{_UNTYPED}[]":
        return stored_type.endswith("[]")
    return _numeric(frame_type, stored_type) and (
        _NUMERIC_RANK[frame_type] <= _NUMERIC_RANK[stored_type]
    )


def _widens(stored_type: str, frame_type: str) -> bool:
    return _numeric(frame_type, stored_type) and (
        _NUMERIC_RANK[frame_type] > _NUMERIC_RANK[stored_type]
    )


def _numeric(*types: str) -> bool:
    return all(kind in _NUMERIC_RANK for kind in types)


def _column_is_empty(
    con: duckdb.DuckDBPyConnection, qualified: str, column: str, *, replaced: bool
) -> bool:
    query = f"SELECT count(t.{column}) FROM {qualified} AS t"
    if replaced:
        query += (
            f" WHERE NOT EXISTS (SELECT 1 FROM {SELECTION_VIEW} AS s"
            " WHERE t.language = s.language AND t.batch = s.batch)"
        )
    return scalar(con, query) == 0

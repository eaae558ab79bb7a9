"""DuckDB storage of ticket tables: atomic partition rewrites, schema evolution, lock retries.

Plain Python (no Dagster) so the I/O manager, the CLI and tests share one implementation.

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

DuckDB lets one process write a file at a time, and a read-only connection still conflicts
with a writer in another process. Every operation opens its own connection, closes it when
done (also on errors), and retries a lock conflict with jittered exponential backoff for up to
`lock_timeout` seconds.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

LOCK_TIMEOUT_SECONDS = 60.0
PARTITION_COLUMNS = ("language", "batch")
ORDER_COLUMN = "ticket_id"
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
_SELECTION_VIEW = "__ticket_store_selection"

Partition = tuple[str, str]
"""A (language, batch) pair, e.g. ("DE", "b0000")."""


class StoreError(RuntimeError):
    """Base class of the store's own errors."""


class MissingTableError(StoreError, LookupError):
    """The table to read has not been written yet."""


class SchemaMismatchError(StoreError):
    """A frame column's type cannot be stored in the existing column."""


class StoreLockedError(StoreError, TimeoutError):
    """Another process kept the database file locked for longer than the lock timeout."""


def quote_ident(name: str) -> str:
    """Quote a DuckDB identifier (schema, table or column name)."""
    return '"' + name.replace('"', '""') + '"'


class TicketStore:
    """Ticket tables of one dataset: DuckDB schema `schema` in the file `database_path`."""

    def __init__(
        self,
        database_path: Path | str,
        schema: str,
        *,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.database_path = Path(database_path)
        self.schema = schema
        self.lock_timeout = lock_timeout

    def qualified(self, table: str) -> str:
        """`"schema"."table"`, quoted for SQL."""
        return f"{quote_ident(self.schema)}.{quote_ident(table)}"

    # -- writes --------------------------------------------------------------------------------

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
        selection = _selection_frame(partitions)
        if selection.empty:
            raise ValueError(f"write_partitions({table!r}) got no partitions to write")
        _check_columns(table, frame)
        _check_rows_inside(table, frame, partitions)
        qualified = self.qualified(table)
        with self._transaction() as con:
            con.register(_FRAME_VIEW, frame)
            con.register(_SELECTION_VIEW, selection)
            frame_types = _frame_types(con, frame)
            definitions = ", ".join(
                f"{quote_ident(name)} {_storage_type(kind)}" for name, kind in frame_types.items()
            )
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
            con.execute(f"CREATE TABLE IF NOT EXISTS {qualified} ({definitions})")
            con.execute(
                f"DELETE FROM {qualified} AS t USING {_SELECTION_VIEW} AS s"
                " WHERE t.language = s.language AND t.batch = s.batch"
            )
            # After the DELETE, so that retyping can ignore the rows being replaced.
            self._reconcile_columns(con, table, frame_types)
            con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM {_FRAME_VIEW}")
            for other, rows in (appended or {}).items():
                self._append(con, other, rows)
            if rejects is not None:
                self._replace_rejects(con, table, rejects)
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
            f"DELETE FROM {qualified} AS t USING {_SELECTION_VIEW} AS s"
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
        with self._transaction() as con:
            self._append(con, table, rows)
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
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
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
        with self._transaction() as con:
            con.register(_FRAME_VIEW, frame)
            columns = ", ".join(
                quote_ident(name)
                if _storage_type(kind) == kind
                else f"CAST({quote_ident(name)} AS {_storage_type(kind)}) AS {quote_ident(name)}"
                for name, kind in _frame_types(con, frame).items()
            )
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
            con.execute(
                f"CREATE OR REPLACE TABLE {self.qualified(table)} AS"
                f" SELECT {columns} FROM {_FRAME_VIEW}"
            )
        return len(frame)

    def dataset_code(self, dataset: str) -> int:
        """The dataset's code (0-999), allocated once as the smallest free code and kept.

        The registry is `main._datasets` (name, code, created_at), shared by all schemas in the
        file, so codes are distinct across the datasets of one database file.
        """
        registry = f"main.{quote_ident(DATASETS_TABLE)}"
        with self._transaction() as con:
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {registry} (name VARCHAR PRIMARY KEY,"
                " code INTEGER NOT NULL UNIQUE, created_at TIMESTAMP NOT NULL)"
            )
            code = _scalar(con, f"SELECT code FROM {registry} WHERE name = ?", [dataset])
            if code is not None:
                return int(code)
            free = _scalar(
                con,
                f"SELECT min(c.code) FROM range(?) AS c(code)"
                f" WHERE c.code NOT IN (SELECT code FROM {registry})",
                [MAX_DATASET_CODE + 1],
            )
            if free is None:
                raise StoreError(
                    f"{self.database_path}: all {MAX_DATASET_CODE + 1} dataset codes are taken;"
                    f" cannot register dataset {dataset!r}. Use another database file."
                )
            con.execute(
                f"INSERT INTO {registry} (name, code, created_at) VALUES (?, ?, ?)",
                [dataset, int(free), datetime.now(UTC).replace(tzinfo=None)],
            )
            return int(free)

    # -- reads ---------------------------------------------------------------------------------

    def read_partitions(
        self,
        table: str,
        partitions: Sequence[Partition] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of `partitions` (all rows if None), ordered by ticket_id when the table has one.

        List columns come back as Python lists. Raises MissingTableError if the table is absent.
        """
        if not self.database_path.exists():
            raise self._missing(table)
        with self._connect(read_only=True) as con:
            stored = _table_columns(con, self.schema, table)
            if stored is None:
                raise self._missing(table)
            select = "*" if columns is None else ", ".join(map(quote_ident, columns))
            query = f"SELECT {select} FROM {self.qualified(table)} AS t"
            if partitions is not None:
                con.register(_SELECTION_VIEW, _selection_frame(partitions))
                query += (
                    f" WHERE EXISTS (SELECT 1 FROM {_SELECTION_VIEW} AS s"
                    " WHERE t.language = s.language AND t.batch = s.batch)"
                )
            if ORDER_COLUMN in stored:
                query += f" ORDER BY t.{quote_ident(ORDER_COLUMN)}"
            relation = con.sql(query)
            list_columns = [
                name
                for name, kind in zip(relation.columns, relation.types, strict=True)
                if kind.id == "list"
            ]
            frame = relation.df()
        # DuckDB returns LIST values as numpy arrays (NULL as pd.NA); nodes expect lists / None.
        for name in list_columns:
            frame[name] = frame[name].map(
                lambda v: v.tolist() if isinstance(v, np.ndarray) else None
            )
        return frame

    def read_table(self, table: str) -> pd.DataFrame:
        """The whole table, ordered by ticket_id when it has one."""
        return self.read_partitions(table)

    def present_values(self, table: str, column: str, values: Sequence[str]) -> set[str]:
        """Which of `values` the table's `column` holds (none when either is missing)."""
        if not values or not self.database_path.exists():
            return set()
        with self._connect(read_only=True) as con:
            if column.lower() not in (_table_columns(con, self.schema, table) or {}):
                return set()
            con.register(_SELECTION_VIEW, pd.DataFrame({"value": list(values)}, dtype="string"))
            rows = con.execute(
                f"SELECT DISTINCT t.{quote_ident(column)} FROM {self.qualified(table)} AS t"
                f" SEMI JOIN {_SELECTION_VIEW} AS s ON t.{quote_ident(column)} = s.value"
            ).fetchall()
        return {row[0] for row in rows}

    def table_exists(self, table: str) -> bool:
        if not self.database_path.exists():
            return False
        with self._connect(read_only=True) as con:
            return _table_columns(con, self.schema, table) is not None

    # -- internals -----------------------------------------------------------------------------

    def _missing(self, table: str) -> MissingTableError:
        return MissingTableError(
            f"Table {self.schema}.{table} does not exist in {self.database_path}:"
            f" materialize the asset {table!r} (for the partitions you need) first."
        )

    def _reconcile_columns(
        self, con: duckdb.DuckDBPyConnection, table: str, frame_types: dict[str, str]
    ) -> None:
        """Make the table able to take the frame's columns (inside the write transaction)."""
        qualified = self.qualified(table)
        stored = _table_columns(con, self.schema, table) or {}
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
            elif _column_is_empty(con, qualified, column):
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

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._connect(read_only=False) as con:
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    @contextmanager
    def _connect(self, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._open(read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    def _create_file_once(self) -> None:
        """Create the database file atomically. Two processes creating it with
        `duckdb.connect` at the same moment fail: one reads the other's half-written header
        ("not a valid DuckDB database file"). A complete empty database is linked into place
        instead, which fails harmlessly if another process got there first."""
        self.database_path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.database_path.with_name(f".{self.database_path.name}.{os.getpid()}.new")
        try:
            duckdb.connect(str(temp)).close()
            os.link(temp, self.database_path)
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        path = str(self.database_path)
        if not read_only and not self.database_path.exists():
            self._create_file_once()
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            try:
                return duckdb.connect(path, read_only=read_only)
            except duckdb.ConnectionException as exc:
                # This process already has the file open read-write (DuckDB shares one instance
                # per file and process and refuses a second configuration): share that one.
                if read_only and "different configuration" in str(exc):
                    return duckdb.connect(path)
                raise
            except duckdb.IOException as exc:
                if "Could not set lock" not in str(exc):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreLockedError(_lock_message(path, self.lock_timeout, exc)) from exc
                # Jitter so that processes waiting on the same lock do not retry in lockstep.
                time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
                delay = min(delay * 2, 2.0)


def _lock_message(path: str, timeout: float, exc: duckdb.IOException) -> str:
    holder = re.search(r"held in (.*?\(PID \d+\))", str(exc))
    by = f" by {holder.group(1)}" if holder else ""
    return (
        f"DuckDB file {path} stayed locked{by} for {timeout:.0f} s. DuckDB allows one writing"
        " process per file: wait for that process, limit concurrent writer runs, or raise the"
        " lock timeout."
    )


def _selection_frame(partitions: Sequence[Partition]) -> pd.DataFrame:
    # String dtype so that even an empty selection scans as VARCHAR, not as untyped NULL.
    return pd.DataFrame(sorted(set(partitions)), columns=list(PARTITION_COLUMNS), dtype="string")


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
    return {row[0]: row[1] for row in rows}


def _table_columns(
    con: duckdb.DuckDBPyConnection, schema: str, table: str
) -> dict[str, str] | None:
    """Lower-cased column name -> type of the table, or None if it does not exist.

    DESCRIBE rather than a catalog query: duckdb_columns() and information_schema cost 20-30 ms
    on a fresh connection, and every operation here opens one. A failed DESCRIBE would abort a
    transaction, so inside one call this only for a table known to exist.
    """
    try:
        rows = con.execute(f"DESCRIBE {quote_ident(schema)}.{quote_ident(table)}").fetchall()
    except duckdb.CatalogException:
        return None
    return {row[0].lower(): row[1] for row in rows}


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


def _column_is_empty(con: duckdb.DuckDBPyConnection, qualified: str, column: str) -> bool:
    return _scalar(con, f"SELECT count({column}) FROM {qualified}") == 0


def _scalar(
    con: duckdb.DuckDBPyConnection, query: str, parameters: Sequence[object] = ()
) -> object:
    """First value of the first row, or None when there is no row."""
    row = con.execute(query, parameters).fetchone()
    return None if row is None else row[0]

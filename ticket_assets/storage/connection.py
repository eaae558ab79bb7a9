"""Connections to the DuckDB file, lock handling, and the SQL helpers reads and writes share.

DuckDB lets one process write a file at a time, and a read-only connection still conflicts
with a writer in another process. Every operation opens its own connection, closes it when
done (also on errors), and retries a lock conflict with jittered exponential backoff for up to
`lock_timeout` seconds. The file is created atomically (an empty database linked into place),
so two processes creating it at once never see a half-written header.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

LOCK_TIMEOUT_SECONDS = 60.0
PARTITION_COLUMNS = ("language", "batch")
SELECTION_VIEW = "__ticket_store_selection"

Partition = tuple[str, str]
"""A (language, batch) pair, e.g. ("DE", "b0000")."""


class StoreError(RuntimeError):
    """Base class of the store's own errors."""


class StoreLockedError(StoreError, TimeoutError):
    """Another process kept the database file locked for longer than the lock timeout."""


def quote_ident(name: str) -> str:
    """Quote a DuckDB identifier (schema, table or column name)."""
    return '"' + name.replace('"', '""') + '"'


class StoreConnection:
    """Where a store's tables live (DuckDB schema `schema` in the file `database_path`) and how
    it connects: the base of the read and write paths (`read.py`, `write.py`)."""

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


def selection_frame(partitions: Sequence[Partition]) -> pd.DataFrame:
    # String dtype so that even an empty selection scans as VARCHAR, not as untyped NULL.
    return pd.DataFrame(sorted(set(partitions)), columns=list(PARTITION_COLUMNS), dtype="string")


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str] | None:
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


def scalar(con: duckdb.DuckDBPyConnection, query: str, parameters: Sequence[object] = ()) -> object:
    """First value of the first row, or None when there is no row."""
    row = con.execute(query, parameters).fetchone()
    return None if row is None else row[0]

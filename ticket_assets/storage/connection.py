"""Where a store's tables live (its backend), transactions with conflict retries, and the SQL
helpers reads and writes share.

Two backends (one object each, chosen by `storage.backend`): `LocalFile` (local.py), one DuckDB
file, one writing process at a time, lock conflicts retried when connecting; and `Lake`
(lake.py), a DuckLake many machines write at once, whose snapshot transactions can fail at
commit with a retryable conflict. `StoreConnection.in_transaction` reruns the whole
transaction on such a conflict, with jittered backoff, for up to `lock_timeout` seconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd

from ticket_assets.storage.errors import StoreLockedError
from ticket_assets.storage.lake import Lake
from ticket_assets.storage.local import LocalFile

LOCK_TIMEOUT_SECONDS = 60.0
PARTITION_COLUMNS = ("language", "batch")
SELECTION_VIEW = "__ticket_store_selection"

Partition = tuple[str, str]
"""A (language, batch) pair, e.g. ("DE", "b0000")."""

Backend = LocalFile | Lake
T = TypeVar("T")


def quote_ident(name: str) -> str:
    """Quote a DuckDB identifier (catalog, schema, table or column name)."""
    return '"' + name.replace('"', '""') + '"'


class StoreConnection:
    """Where a store's tables live (DuckDB schema `schema` of `backend`; a path means a local
    DuckDB file) and how it connects: the base of the read and write paths."""

    def __init__(
        self,
        backend: Backend | Path | str,
        schema: str,
        *,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.backend = backend if isinstance(backend, LocalFile | Lake) else LocalFile(backend)
        self.schema = schema
        self.lock_timeout = lock_timeout

    def qualified(self, table: str, schema: str | None = None) -> str:
        """`"schema"."table"` (with the lake's catalog in front), quoted for SQL."""
        parts = (self.backend.catalog, schema or self.schema, table)
        return ".".join(quote_ident(part) for part in parts if part)

    def qualified_schema(self) -> str:
        return ".".join(quote_ident(p) for p in (self.backend.catalog, self.schema) if p)

    def in_transaction(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `work` in one transaction and commit; on a lake's commit conflict (another
        writer touched the same rows or table first) roll back and run it again, with
        jittered backoff, until `lock_timeout`."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                with self._connect(read_only=False) as con:
                    con.begin()
                    try:
                        result = work(con)
                    except BaseException:
                        con.rollback()
                        raise
                    con.commit()
                    return result
            except duckdb.TransactionException as exc:
                if "conflict" not in str(exc).lower():
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreLockedError(
                        f"{self.backend}: commits kept conflicting with other writers for"
                        f" {self.lock_timeout:.0f} s; last: {str(exc).splitlines()[-1]}"
                    ) from exc
                time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
                delay = min(delay * 2, 2.0)

    @contextmanager
    def _connect(self, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.backend.connect(read_only=read_only, lock_timeout=self.lock_timeout) as con:
            yield con


def selection_frame(partitions: Sequence[Partition]) -> pd.DataFrame:
    # String dtype so that even an empty selection scans as VARCHAR, not as untyped NULL.
    return pd.DataFrame(sorted(set(partitions)), columns=list(PARTITION_COLUMNS), dtype="string")


def table_columns(con: duckdb.DuckDBPyConnection, qualified: str) -> dict[str, str] | None:
    """Lower-cased column name -> type of the table (quoted, qualified name), or None if it
    does not exist.

    DESCRIBE rather than a catalog query: duckdb_columns() and information_schema cost 20-30 ms
    on a fresh connection, and every operation here opens one. A failed DESCRIBE would abort a
    transaction, so inside one call this only for a table known to exist.
    """
    try:
        rows = con.execute(f"DESCRIBE {qualified}").fetchall()
    except duckdb.CatalogException:
        return None
    return {row[0].lower(): row[1] for row in rows}


def scalar(con: duckdb.DuckDBPyConnection, query: str, parameters: Sequence[object] = ()) -> object:
    """First value of the first row, or None when there is no row."""
    row = con.execute(query, parameters).fetchone()
    return None if row is None else row[0]

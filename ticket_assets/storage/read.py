"""The store's read path: rows of partitions or whole tables, values present, tables present.

Reads of a local file open a read-only connection (or share this process's read-write one), so
they wait like writes when another process holds the file (local.py); a lake's readers see the
last committed snapshot and never wait. A missing table raises
`MissingTableError` naming the asset to materialize; list columns come back as Python lists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ticket_assets.storage.connection import (
    SELECTION_VIEW,
    Partition,
    StoreConnection,
    quote_ident,
    selection_frame,
    table_columns,
)
from ticket_assets.storage.errors import StoreError

ORDER_COLUMN = "ticket_id"


class MissingTableError(StoreError, LookupError):
    """The table to read has not been written yet."""


class StoreReads(StoreConnection):
    """Reading ticket tables (mixed into `TicketStore`)."""

    def read_partitions(
        self,
        table: str,
        partitions: Sequence[Partition] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of `partitions` (all rows if None), ordered by ticket_id when the table has one.

        List columns come back as Python lists. Raises MissingTableError if the table is absent.
        """
        if not self.backend.exists():
            raise self._missing(table)
        with self._connect(read_only=True) as con:
            stored = table_columns(con, self.qualified(table))
            if stored is None:
                raise self._missing(table)
            select = "*" if columns is None else ", ".join(map(quote_ident, columns))
            query = f"SELECT {select} FROM {self.qualified(table)} AS t"
            if partitions is not None:
                con.register(SELECTION_VIEW, selection_frame(partitions))
                query += (
                    f" WHERE EXISTS (SELECT 1 FROM {SELECTION_VIEW} AS s"
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
        if not values or not self.backend.exists():
            return set()
        with self._connect(read_only=True) as con:
            if column.lower() not in (table_columns(con, self.qualified(table)) or {}):
                return set()
            con.register(SELECTION_VIEW, pd.DataFrame({"value": list(values)}, dtype="string"))
            rows = con.execute(
                f"SELECT DISTINCT t.{quote_ident(column)} FROM {self.qualified(table)} AS t"
                f" SEMI JOIN {SELECTION_VIEW} AS s ON t.{quote_ident(column)} = s.value"
            ).fetchall()
        return {row[0] for row in rows}

    def table_exists(self, table: str) -> bool:
        if not self.backend.exists():
            return False
        with self._connect(read_only=True) as con:
            return table_columns(con, self.qualified(table)) is not None

    def _missing(self, table: str) -> MissingTableError:
        return MissingTableError(
            f"Table {self.schema}.{table} does not exist in {self.backend}:"
            f" materialize the asset {table!r} (for the partitions you need) first."
        )

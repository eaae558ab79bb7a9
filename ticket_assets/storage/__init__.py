"""Storage of ticket tables in DuckDB or a DuckLake: atomic partition rewrites, schema
evolution, lock and conflict retries.

Plain Python (no Dagster) so the I/O manager, the CLI and tests share one implementation.
`TicketStore` (store.py) is what callers use; its parts:

- `write.py`: the write path. Each partition write is one transaction
  (`BEGIN; DELETE; INSERT ... BY NAME; COMMIT`) with schema evolution, the LLM ledger rows and
  the node's quarantined tickets (`rejects`); its docstring lists the guarantees. Also
  whole-table replacements and the registry of dataset codes.
- `read.py`: the read path (partitions or whole tables, present values, table existence).
- `connection.py`: one connection per operation, transactions rerun on a lake's commit
  conflict; SQL helpers both paths share.
- `local.py` (a DuckDB file: atomic creation, lock retries) and `lake.py` (a DuckLake with its
  catalog in Postgres or a file, its data in a directory or on S3): the two backends.
"""

from ticket_assets.storage.connection import (
    LOCK_TIMEOUT_SECONDS,
    PARTITION_COLUMNS,
    Backend,
    Partition,
    quote_ident,
)
from ticket_assets.storage.errors import StoreError, StoreLockedError
from ticket_assets.storage.lake import Lake, LakeUnavailableError, redacted
from ticket_assets.storage.local import LocalFile
from ticket_assets.storage.read import ORDER_COLUMN, MissingTableError
from ticket_assets.storage.store import TicketStore, backend_for
from ticket_assets.storage.write import (
    DATASETS_TABLE,
    REJECT_COLUMNS,
    REJECTS_TABLE,
    UNIQUE_CALL_COLUMN,
    SchemaMismatchError,
)

__all__ = [
    "DATASETS_TABLE",
    "LOCK_TIMEOUT_SECONDS",
    "ORDER_COLUMN",
    "PARTITION_COLUMNS",
    "REJECTS_TABLE",
    "REJECT_COLUMNS",
    "UNIQUE_CALL_COLUMN",
    "Backend",
    "Lake",
    "LakeUnavailableError",
    "LocalFile",
    "MissingTableError",
    "Partition",
    "SchemaMismatchError",
    "StoreError",
    "StoreLockedError",
    "TicketStore",
    "backend_for",
    "quote_ident",
    "redacted",
]

"""DuckDB storage of ticket tables: atomic partition rewrites, schema evolution, lock retries.

Plain Python (no Dagster) so the I/O manager, the CLI and tests share one implementation.
`TicketStore` (store.py) is what callers use; its parts:

- `write.py`: the write path. Each partition write is one transaction
  (`BEGIN; DELETE; INSERT ... BY NAME; COMMIT`) with schema evolution, the LLM ledger rows and
  the node's quarantined tickets (`rejects`); its docstring lists the guarantees. Also
  whole-table replacements and the registry of dataset codes.
- `read.py`: the read path (partitions or whole tables, present values, table existence).
- `connection.py`: one connection per operation, atomic file creation, lock conflicts retried
  with jittered backoff up to `lock_timeout`; SQL helpers both paths share.
"""

from ticket_assets.storage.connection import (
    LOCK_TIMEOUT_SECONDS,
    PARTITION_COLUMNS,
    Partition,
    StoreError,
    StoreLockedError,
    quote_ident,
)
from ticket_assets.storage.read import ORDER_COLUMN, MissingTableError
from ticket_assets.storage.store import TicketStore
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
    "MissingTableError",
    "Partition",
    "SchemaMismatchError",
    "StoreError",
    "StoreLockedError",
    "TicketStore",
    "quote_ident",
]

"""`TicketStore`: the ticket tables of one dataset, in a DuckDB file or a DuckLake.

The read path is `read.py`, the write path (with its guarantees) `write.py`, transactions and
their retries `connection.py`, the backends `local.py` and `lake.py`; this class puts them
together, and `backend_for` picks the backend a run config names.
"""

from __future__ import annotations

from pathlib import Path

from ticket_assets.config import RunConfig
from ticket_assets.storage.connection import Backend
from ticket_assets.storage.lake import Lake
from ticket_assets.storage.local import LocalFile
from ticket_assets.storage.read import StoreReads
from ticket_assets.storage.write import StoreWrites


class TicketStore(StoreWrites, StoreReads):
    """Ticket tables of one dataset: DuckDB schema `schema` of the backend (a path: a local
    DuckDB file)."""


def backend_for(config: RunConfig) -> Backend:
    """The backend of `config.storage`: the local file `data_dir/tickets.duckdb`, or the
    DuckLake (a catalog file and a data directory are taken from the project root, like the
    other relative paths)."""
    storage = config.storage
    if not storage.is_lake:
        return LocalFile(config.database_path)
    assert storage.catalog is not None and storage.data_path is not None  # checked on load
    catalog = storage.catalog
    if storage.postgres_conninfo is None:
        catalog = str(config.resolve(Path(catalog)))
    data_path = storage.data_path
    if not storage.on_object_storage:
        data_path = str(config.resolve(Path(data_path)))
    return Lake(catalog, data_path)

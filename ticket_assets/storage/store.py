"""`TicketStore`: the ticket tables of one dataset, in one DuckDB file.

The read path is `read.py`, the write path (with its guarantees) `write.py`, connections and
lock retries `connection.py`; this class puts them together.
"""

from __future__ import annotations

from ticket_assets.storage.read import StoreReads
from ticket_assets.storage.write import StoreWrites


class TicketStore(StoreWrites, StoreReads):
    """Ticket tables of one dataset: DuckDB schema `schema` in the file `database_path`."""

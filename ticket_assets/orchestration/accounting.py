"""Booking paid calls that a killed process left in the journal (llm/journal.py)."""

from __future__ import annotations

import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.llm.cache import ResponseCache
from ticket_assets.llm.ledger import LEDGER_COLUMNS
from ticket_assets.llm.types import CallRecord
from ticket_assets.orchestration.io_manager import LEDGER_TABLE
from ticket_assets.storage import UNIQUE_CALL_COLUMN, TicketStore


def fold_journal(config: RunConfig, store: TicketStore, mode: str) -> list[CallRecord]:
    """Book in the ledger the journaled calls of this dataset that it lacks and whose process
    is gone, then clear the journal of every call the ledger now holds. Returns the calls
    booked now (what an interrupted run paid for and never recorded)."""
    if not config.cache_path.exists():
        return []
    cache = ResponseCache(config.cache_path)
    journaled = cache.paid_calls(str(config.database_path), config.dataset)
    if not journaled:
        return []
    call_ids = [entry.record.call_id for entry in journaled]
    booked = store.present_values(LEDGER_TABLE, UNIQUE_CALL_COLUMN, call_ids)
    orphans = [e for e in journaled if e.record.call_id not in booked and e.orphaned]
    if orphans:
        rows = pd.DataFrame([e.record.__dict__ for e in orphans], columns=LEDGER_COLUMNS)
        rows["run_id"] = [e.run_id for e in orphans]
        store.append_rows(LEDGER_TABLE, rows.assign(mode=mode, recorded_at=pd.Timestamp.now("UTC")))
    done = booked | {e.record.call_id for e in orphans}
    cache.forget_paid(sorted(done))
    return [e.record for e in orphans]

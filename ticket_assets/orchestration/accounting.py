"""The LLM ledger (`llm_calls`) from Dagster's side: booking paid calls that a killed process
left in the journal (llm/journal.py), and reading back what a run spent."""

from __future__ import annotations

import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.llm.cache import ResponseCache
from ticket_assets.llm.ledger import LEDGER_COLUMNS
from ticket_assets.llm.types import CallRecord
from ticket_assets.orchestration.io_manager import LEDGER_TABLE
from ticket_assets.storage import UNIQUE_CALL_COLUMN, TicketStore

# The run that booked a journaled call of an interrupted run (null on a run's own calls): the
# row keeps the run that paid for it in `run_id`, and counts in the booking run's summary.
FOLDED_BY_COLUMN = "folded_by_run"


def fold_journal(config: RunConfig, store: TicketStore, run_id: str) -> list[CallRecord]:
    """Book in the ledger the journaled calls of this dataset that it lacks and whose process
    is gone, marked as booked by `run_id`, then clear the journal of every call the ledger now
    holds. Returns the calls booked now (what an interrupted run paid for and never
    recorded)."""
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
        now = pd.Timestamp.now("UTC")
        rows = rows.assign(mode=config.mode, recorded_at=now, **{FOLDED_BY_COLUMN: run_id})
        store.append_rows(LEDGER_TABLE, rows)
    done = booked | {e.record.call_id for e in orphans}
    cache.forget_paid(sorted(done))
    return [e.record for e in orphans]


def run_calls(store: TicketStore, run_id: str) -> pd.DataFrame:
    """The ledger rows a run booked: its own calls and the interrupted runs' calls it folded."""
    if not store.table_exists(LEDGER_TABLE):
        return pd.DataFrame(columns=LEDGER_COLUMNS)
    calls = store.read_table(LEDGER_TABLE)
    booked = calls["run_id"] == run_id
    if FOLDED_BY_COLUMN in calls.columns:
        booked |= calls[FOLDED_BY_COLUMN] == run_id
    return calls[booked].reset_index(drop=True)

"""The journal of paid calls: each call recorded durably as it is sent, and again (with
its real usage) the moment its answer arrives.

A step writes its ledger rows to DuckDB with its partitions, so a process killed mid-step
(kill -9, OOM, a lost machine) would lose the record of calls it paid for, while their answers
sit in the response cache and are served free on the rerun. The journal closes that gap: it
lives in the cache's SQLite file (an answer and its entry are written in one transaction), and
`fold_journal` (orchestration/accounting.py) moves its entries into the `llm_calls` ledger on
the next step, skipping calls the ledger already holds (call ids are unique), so every paid
call is booked exactly once. A call sent but never answered (in flight at the kill) is booked
too, with its prompt tokens estimated: a provider finishes and bills a request whose client
went away. An entry is removed when the server answers with an error (nothing billed), and
entries of a process still alive are left to it: it books them when its step ends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ticket_assets.core.processes import is_alive
from ticket_assets.llm.types import CallRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS paid_calls (
    call_id TEXT PRIMARY KEY,
    database TEXT NOT NULL,
    dataset TEXT NOT NULL,
    run_id TEXT NOT NULL,
    pid INTEGER NOT NULL,
    record TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class PaidCall:
    """A call paid for in run `run_id` of `dataset` by process `pid`, whose ledger is in the
    DuckDB file `database` (one cache may serve several datasets and database files)."""

    database: str
    dataset: str
    run_id: str
    record: CallRecord
    pid: int = dataclasses.field(default_factory=os.getpid)

    @property
    def orphaned(self) -> bool:
        """Whether the process that paid for the call is gone, so nobody else will book it."""
        return not is_alive(self.pid)


def insert(connection: sqlite3.Connection, call: PaidCall) -> None:
    connection.execute(
        "INSERT OR REPLACE INTO paid_calls VALUES (?, ?, ?, ?, ?, ?)",
        (
            call.record.call_id,
            call.database,
            call.dataset,
            call.run_id,
            call.pid,
            json.dumps(dataclasses.asdict(call.record)),
        ),
    )


def select(connection: sqlite3.Connection, database: str, dataset: str) -> list[PaidCall]:
    rows = connection.execute(
        "SELECT run_id, record, pid FROM paid_calls WHERE database = ? AND dataset = ?",
        (database, dataset),
    ).fetchall()
    return [
        PaidCall(database, dataset, run, CallRecord(**json.loads(record)), pid)
        for run, record, pid in rows
    ]


def delete(connection: sqlite3.Connection, call_ids: Iterable[str]) -> None:
    ids: Sequence[tuple[str]] = [(call_id,) for call_id in call_ids]
    connection.executemany("DELETE FROM paid_calls WHERE call_id = ?", ids)

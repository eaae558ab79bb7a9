"""The instance's SQLite storage, writing a batch of asset events in one transaction.

A run over many partitions records two asset events per partition and asset (planned, then
materialized). Dagster's SQLite event log writes each in its own connections and transactions
(about 12 ms each here, more than generating the partition), and writes a batch one event at a
time. Dagster hands its storage batches when `DAGSTER_EVENT_BATCH_SIZE` is set: the planned
events of a run, and the materializations of a step's partitions. This storage turns batching
on and writes such a batch in one transaction per database file; the rows it writes are the
ones `store_event` would write, so the UI and every Dagster query read them as usual.

Selected in `dagster.yaml` (`storage: custom:`); the files are where Dagster's default SQLite
storage puts them, so an existing instance keeps its history.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData

# Events Dagster may hand over at once: a run's planned events, a step's materializations.
EVENT_BATCH_SIZE = "10000"


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose `store_event_batch` writes the asset events of one run in
    one transaction on the run's file and one on the index file."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        asset_events = [event for event in events if _is_asset_event(event)]
        run_ids = {event.run_id for event in asset_events}
        if len(run_ids) != 1:
            super().store_event_batch(events)  # one at a time, as Dagster does
            return
        with self.run_connection(run_ids.pop()) as conn:
            conn.execute(self.prepare_insert_event_batch(asset_events))
        # The index file mirrors asset events (cross-run queries: latest materialization per
        # partition, the asset catalog), each with its tags and the asset's latest event.
        with self.index_transaction() as conn:
            event_ids = [
                conn.execute(self.prepare_insert_event(event)).inserted_primary_key[0]
                for event in asset_events
            ]
            self._store_asset_event_tags(conn, asset_events, event_ids)
            for event, event_id in zip(asset_events, event_ids, strict=True):
                self._store_asset_event(conn, event, event_id)
        # Others in a batch (planned asset checks) are few: stored as Dagster stores them.
        for event in events:
            if not _is_asset_event(event):
                self.store_event(event)


def _is_asset_event(event: EventLogEntry) -> bool:
    return event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS


class BatchingSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, schedules, event log) with the batching event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = BatchingSqliteEventLogStorage(_event_logs_directory(base_dir))
        # Dagster reads this in every process that writes events (CLI, run workers, daemon).
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchingSqliteStorage:
        return cls(config_value["base_dir"], inst_data=inst_data)

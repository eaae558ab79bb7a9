"""The instance storage that records a run's asset events in batches (orchestration/
event_log.py) writes what Dagster's SQLite storage writes event by event, and the CLI records
its runs there by default."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import ASSET_EVENTS
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from ticket_assets.__main__ import main
from ticket_assets.orchestration.event_log import BatchingSqliteEventLogStorage

PARTITIONS = dg.StaticPartitionsDefinition([f"p{index}" for index in range(6)])


# `context` unannotated: Dagster checks the hint, and postponed annotations hide it.
@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def numbers(context) -> dg.MaterializeResult:  # type: ignore[no-untyped-def]
    for key in context.partition_keys:
        context.add_asset_metadata({"dagster/row_count": int(key[1:])}, partition_key=key)
    return dg.MaterializeResult()


def _index_rows(directory: Path) -> dict[str, list[tuple]]:
    """The index file's asset tables, without ids and write times (which differ by design)."""
    with sqlite3.connect(directory / "index.db") as connection:
        return {
            "event_logs": connection.execute(
                "SELECT run_id, event, dagster_event_type, step_key, asset_key, partition "
                "FROM event_logs ORDER BY id"
            ).fetchall(),
            "asset_keys": connection.execute(
                "SELECT asset_key, last_materialization, last_run_id, cached_status_data "
                "FROM asset_keys ORDER BY asset_key"
            ).fetchall(),
            "asset_event_tags": connection.execute(
                "SELECT asset_key, key, value FROM asset_event_tags ORDER BY id"
            ).fetchall(),
        }


def test_a_batch_is_stored_as_dagster_stores_its_events_one_by_one(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [numbers],
            instance=instance,
            partition_key=None,
            tags={
                "dagster/asset_partition_range_start": "p0",
                "dagster/asset_partition_range_end": "p5",
            },
        )
        events = [
            entry
            for entry in instance.all_logs(result.run_id)
            if entry.is_dagster_event and entry.dagster_event_type in ASSET_EVENTS
        ]
    assert len(events) == 12  # planned and materialized, per partition
    one_by_one = SqliteEventLogStorage(str(tmp_path / "one_by_one"))
    for event in events:
        one_by_one.store_event(event)
    batched = BatchingSqliteEventLogStorage(str(tmp_path / "batched"))
    batched.store_event_batch(events)
    assert _index_rows(tmp_path / "batched") == _index_rows(tmp_path / "one_by_one")
    assert batched.get_materialized_partitions(dg.AssetKey("numbers")) == {
        f"p{index}" for index in range(6)
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tmp_path / "dagster_home"


def test_cli_runs_record_every_partition_through_the_batching_storage(
    home: Path, tmp_path: Path
) -> None:
    args = ["run", "--rows", "40", "--languages", "en", "--batch-size", "5"]
    assert main([*args, "--data-dir", str(tmp_path / "data")]) == 0
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
        for asset in ("topic", "translate", "first_response"):
            materialized = instance.get_materialized_partitions(dg.AssetKey(asset))
            assert len(materialized) == 8, asset  # 8 batches of 5 tickets


def test_no_record_runs_on_an_in_memory_instance(home: Path, tmp_path: Path) -> None:
    args = ["run", "--rows", "10", "--languages", "fr", "--no-record"]
    assert main([*args, "--data-dir", str(tmp_path / "data")]) == 0
    assert not home.exists()

"""DuckDBPartitionIOManager through real (in-process) Dagster runs."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ticket_assets.orchestration.io_manager import DuckDBPartitionIOManager
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.storage import TicketStore

SCHEMA = "support_tickets"
BATCHES = ["b0000", "b0001"]
PARTITIONS = dg.MultiPartitionsDefinition(
    {
        "batch": dg.DynamicPartitionsDefinition(name="batch"),
        "language": dg.StaticPartitionsDefinition(["DE", "EN"]),
    }
)


def key(batch: str, language: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"batch": batch, "language": language})


def rows(partition_key: str, count: int = 2) -> pd.DataFrame:
    batch, language = partition_key.split("|")
    return pd.DataFrame(
        {
            "ticket_id": [f"{language}{batch}{i:04d}" for i in range(count)],
            "language": language,
            "batch": batch,
            "body": [f"{language} body {i}" for i in range(count)],
            "tags": [["Outage", language] for _ in range(count)],
        }
    )


@dg.asset(partitions_def=PARTITIONS)
def draft(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return rows(context.partition_key)


@dg.asset(partitions_def=PARTITIONS)
def translate(draft: pd.DataFrame) -> pd.DataFrame:
    return draft.assign(subject=draft["body"].str.upper(), tags=draft["tags"].map(sorted))


@dg.asset
def export(translate: pd.DataFrame) -> pd.DataFrame:
    return translate.groupby("language", as_index=False).agg(tickets=("ticket_id", "count"))


@dg.asset(partitions_def=PARTITIONS)
def sparse(context: dg.AssetExecutionContext) -> pd.DataFrame:
    """Rows for DE only: EN partitions are legitimately empty."""
    return rows(context.partition_key, count=2 if context.partition_key.endswith("DE") else 0)


@dg.asset
def nothing():  # unannotated, so Dagster hands the None to the I/O manager
    return None


@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def bulk_draft(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.concat([rows(k, count=3) for k in context.partition_keys], ignore_index=True)


@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def bulk_review(bulk_draft: pd.DataFrame) -> pd.DataFrame:
    return bulk_draft.assign(reviewed=True)


@pytest.fixture
def instance() -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("batch", BATCHES)
    return instance


@pytest.fixture
def io_manager(tmp_path: Path) -> DuckDBPartitionIOManager:
    store = TicketStoreResource(database=str(tmp_path / "tickets.duckdb"), dataset=SCHEMA)
    return DuckDBPartitionIOManager(store=store)


@pytest.fixture
def store(io_manager: DuckDBPartitionIOManager) -> TicketStore:
    return io_manager.store.get_store()


def materialize(
    assets: list[dg.AssetsDefinition],
    instance: dg.DagsterInstance,
    io_manager: DuckDBPartitionIOManager,
    **kwargs: object,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, instance=instance, resources={"io_manager": io_manager}, **kwargs)


def test_partitioned_assets_and_unpartitioned_export(
    instance: dg.DagsterInstance, io_manager: DuckDBPartitionIOManager, store: TicketStore
) -> None:
    for batch in BATCHES:
        for language in ("DE", "EN"):
            result = materialize(
                [draft, translate], instance, io_manager, partition_key=key(batch, language)
            )
            assert result.success
    metadata = result.asset_materializations_for_node("translate")[0].metadata
    assert metadata["dagster/row_count"].value == 2
    assert metadata["duckdb/table"].value == "support_tickets.translate"

    # Rematerializing one partition replaces it and leaves the others alone.
    assert materialize([draft], instance, io_manager, partition_key=key("b0000", "DE")).success
    translated = store.read_table("translate")
    assert len(translated) == 8
    assert translated["ticket_id"].is_unique
    assert translated["subject"].str.isupper().all()
    assert translated["tags"].tolist()[0] == ["DE", "Outage"]

    # The export reads the whole table, including a batch no longer among the partitions.
    store.write_partitions("translate", rows("b0009|EN", count=1), [("EN", "b0009")])
    result = materialize([draft, translate, export], instance, io_manager, selection=[export])
    assert result.success
    assert store.read_table("export").to_dict("records") == [
        {"language": "DE", "tickets": 4},
        {"language": "EN", "tickets": 5},
    ]
    export_metadata = result.asset_materializations_for_node("export")[0].metadata
    assert export_metadata["dagster/row_count"].value == 2


def test_downstream_partition_reads_only_its_partition(
    instance: dg.DagsterInstance, io_manager: DuckDBPartitionIOManager, store: TicketStore
) -> None:
    for partition_key in (key("b0000", "DE"), key("b0001", "EN")):
        assert materialize([draft], instance, io_manager, partition_key=partition_key).success
    result = materialize(
        [draft, translate],
        instance,
        io_manager,
        selection=[translate],
        partition_key=key("b0001", "EN"),
    )
    assert result.success
    translated = store.read_table("translate")
    assert set(zip(translated["language"], translated["batch"], strict=True)) == {("EN", "b0001")}


def test_missing_upstream_table_fails_with_a_clear_error(
    instance: dg.DagsterInstance, io_manager: DuckDBPartitionIOManager
) -> None:
    with pytest.raises(Exception, match="materialize the asset 'draft'"):
        materialize(
            [draft, translate],
            instance,
            io_manager,
            selection=[translate],
            partition_key=key("b0000", "DE"),
        )


def test_single_run_backfill_writes_all_partitions_at_once(
    instance: dg.DagsterInstance, io_manager: DuckDBPartitionIOManager, store: TicketStore
) -> None:
    result = materialize(
        [bulk_draft, bulk_review],
        instance,
        io_manager,
        tags={
            "dagster/asset_partition_range_start": "b0000|DE",
            "dagster/asset_partition_range_end": "b0001|EN",
        },
    )
    assert result.success
    everything = {(lang, batch) for lang in ("DE", "EN") for batch in BATCHES}
    for table in ("bulk_draft", "bulk_review"):
        frame = store.read_table(table)
        assert frame.groupby(["language", "batch"]).size().to_dict() == dict.fromkeys(everything, 3)
    assert store.read_table("bulk_review")["reviewed"].all()
    # Each partition's materialization counts its own rows, not the step's 12.
    for event in result.asset_materializations_for_node("bulk_draft"):
        assert event.metadata["dagster/row_count"].value == 3
        assert "duckdb/rows_written" not in event.metadata


def test_asset_returning_none_writes_nothing(
    instance: dg.DagsterInstance, io_manager: DuckDBPartitionIOManager, store: TicketStore
) -> None:
    assert materialize([nothing], instance, io_manager).success
    assert not store.table_exists("nothing")


def test_empty_partition_is_written_and_reported(
    instance: dg.DagsterInstance, io_manager: DuckDBPartitionIOManager, store: TicketStore
) -> None:
    store.write_partitions("sparse", rows("b0000|EN"), [("EN", "b0000")])
    assert materialize([sparse], instance, io_manager, partition_key=key("b0000", "DE")).success
    result = materialize([sparse], instance, io_manager, partition_key=key("b0000", "EN"))

    assert result.success
    frame = store.read_table("sparse")
    assert set(frame["language"]) == {"DE"}
    assert (
        result.asset_materializations_for_node("sparse")[0].metadata["dagster/row_count"].value == 0
    )
    messages = [event.user_message for event in instance.all_logs(result.run_id)]
    assert any("no rows for partitions [('EN', 'b0000')]" in m for m in messages)

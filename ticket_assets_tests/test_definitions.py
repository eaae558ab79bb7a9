"""What the Definitions declare (a names snapshot), and resources swapped in a test."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ticket_assets.config import RunConfig
from ticket_assets.orchestration.definitions import build_definitions, ticket_resources
from ticket_assets.orchestration.partitions import partition_key, register_batches
from ticket_assets.orchestration.resources import (
    LLMResource,
    TablesResource,
    TicketStoreResource,
)

NODES = ["topic", "email_draft", "tagging", "paraphrase", "translate", "first_response"]


def test_definitions_declare_every_asset_check_job_schedule_sensor_and_resource(
    small_config: RunConfig,
) -> None:
    defs = build_definitions(small_config)
    graph = defs.resolve_asset_graph()
    assert sorted(key.to_user_string() for key in graph.get_all_asset_keys()) == sorted(
        [*NODES, "tickets_export", "cost_report", "quality_report"]
    )
    checks = sorted(
        f"{key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys
    )
    assert checks == sorted(
        [
            *(f"{node}:ticket_schema" for node in NODES),
            "paraphrase:fidelity",
            "translate:fidelity",
            *(f"{node}:in_sync_with_upstream" for node in NODES),
            *(
                f"tickets_export:{name}"
                for name in (
                    "language",
                    "duplicates",
                    "label_balance",
                    "leaks",
                    "label_leakage",
                    "diversity",
                    "learnability",
                )
            ),
        ]
    )
    jobs = {job.name for job in defs.resolve_all_job_defs()} - {"__ASSET_JOB"}
    assert jobs == {"all_tickets", "export_only", "translate_only"}
    assert [s.name for s in defs.schedules or []] == ["refresh_dataset"]
    assert [s.name for s in defs.sensors or []] == ["register_configured_batches"]
    resources = defs.resources or {}
    assert sorted(resources) == ["io_manager", "llm", "store", "tables"]
    assert isinstance(resources["store"], TicketStoreResource)
    assert resources["store"].database == str(small_config.database_path)
    assert isinstance(resources["tables"], TablesResource)
    assert isinstance(resources["llm"], LLMResource)
    # Every asset and check asks for its services by resource key.
    assert defs.resolve_assets_def("topic").required_resource_keys >= {"store", "tables", "llm"}
    assert defs.resolve_assets_def("cost_report").required_resource_keys >= {"store"}


def test_a_swapped_store_resource_receives_the_rows_and_the_ledger(
    small_config: RunConfig, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.duckdb"
    swapped = TicketStoreResource(database=str(elsewhere), dataset=small_config.dataset)
    register_batches(instance, small_config)
    # The asset as declared (resolve_assets_def would return it bound to the Definitions').
    assets = build_definitions(small_config).assets or []
    topic = next(
        a for a in assets if isinstance(a, dg.AssetsDefinition) and a.key.path == ["topic"]
    )
    result = dg.materialize(
        [topic],
        resources=ticket_resources(small_config, store=swapped),
        instance=instance,
        partition_key=partition_key("DE", "b0000"),
    )
    assert result.success
    store = swapped.get_store()
    assert len(store.read_table("topic")) == 6
    assert set(store.read_table("llm_calls")["run_id"]) == {result.run_id}
    assert not small_config.database_path.exists()

"""The Dagster layer: partitioned materializations into DuckDB, checks, export, reruns."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from ticket_assets.config import RunConfig
from ticket_assets.export import EXPORT_COLUMNS
from ticket_assets.orchestration.assets import EXPORT_ASSET
from ticket_assets.orchestration.definitions import build_definitions
from ticket_assets.orchestration.jobs import EXPORT_JOB, FULL_JOB, TRANSLATE_JOB
from ticket_assets.orchestration.partitions import (
    batch_partitions_name,
    full_range_tags,
    partition_key,
    register_batches,
)
from ticket_assets.orchestration.quality_checks import EXPORT_CHECKS, FIDELITY_NODES
from ticket_assets.orchestration.reports import COST_REPORT_ASSET, QUALITY_REPORT_ASSET
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.orchestration.schedules import REFRESH_SCHEDULE


def _materialize_partition(
    config: RunConfig, instance: dg.DagsterInstance, language: str, batch: str, selection: list[str]
) -> dg.ExecuteInProcessResult:
    job = build_definitions(config).resolve_job_def(FULL_JOB)
    return job.execute_in_process(
        instance=instance,
        partition_key=partition_key(language, batch),
        asset_selection=[dg.AssetKey(name) for name in selection],
    )


def test_definitions_load_with_six_node_assets_checks_and_export(small_config: RunConfig) -> None:
    defs = build_definitions(small_config)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {*small_config.pipeline, EXPORT_ASSET, COST_REPORT_ASSET, QUALITY_REPORT_ASSET}
    assert {job.name for job in defs.resolve_all_job_defs()} >= {
        FULL_JOB,
        TRANSLATE_JOB,
        EXPORT_JOB,
    }
    tags = defs.resolve_job_def(TRANSLATE_JOB).tags
    assert tags["mode"] == "dev" and tags["model"] == "offline" and tags["dataset"]
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert checks == {
        *((name, "ticket_schema") for name in small_config.pipeline),
        *((name, "fidelity") for name in FIDELITY_NODES),
        *((name, "in_sync_with_upstream") for name in small_config.pipeline),
        *((EXPORT_ASSET, name) for name in EXPORT_CHECKS),
    }
    translate = defs.resolve_assets_def("translate")
    assert isinstance(translate.partitions_def, dg.MultiPartitionsDefinition)
    assert translate.backfill_policy == dg.BackfillPolicy.single_run()


def test_two_partitions_materialize_into_duckdb(
    small_config: RunConfig, instance: dg.DagsterInstance
) -> None:
    register_batches(instance, small_config)
    results = {
        language: _materialize_partition(
            small_config, instance, language, "b0000", list(small_config.pipeline)
        )
        for language in ("DE", "EN")
    }
    assert all(result.success for result in results.values())
    tickets = TicketStoreResource.for_config(small_config).get_store().read_table("first_response")
    assert sorted(tickets["language"].unique()) == ["DE", "EN"]
    assert set(tickets["batch"]) == {"b0000"}
    assert len(tickets) == 12
    assert tickets["ticket_id"].is_unique
    translate_de = results["DE"].asset_materializations_for_node("translate")[0].metadata
    assert translate_de["dagster/row_count"].value == 6
    assert translate_de["llm/calls"].value == 6  # EN drafts, DE target: one translation each
    assert "llm/cost_eur" in translate_de
    assert "preview" in translate_de
    # Schema and lineage are the asset definition's: the same for every partition.
    definition = build_definitions(small_config).resolve_assets_def("translate")
    lineage = definition.metadata_by_key[definition.key]["dagster/column_lineage"].deps_by_column
    assert [dep.column_name for dep in lineage["topic"]] == ["topic"]  # passed through
    assert {dep.column_name for dep in lineage["body"]} == {
        "subject",
        "body",
        "language",
        "ticket_id",
    }
    assert {dep.asset_key for deps in lineage.values() for dep in deps} == {
        dg.AssetKey("paraphrase")
    }
    translate_en = results["EN"].asset_materializations_for_node("translate")[0].metadata
    assert translate_en["llm/calls"].value == 0  # already in English: no call
    checks = results["EN"].get_asset_check_evaluations()
    # The schema and staleness checks of every node, the fidelity checks of paraphrase and
    # translate.
    assert len(checks) == 2 * len(small_config.pipeline) + len(FIDELITY_NODES)
    assert all(check.passed for check in checks)


def test_rematerializing_translate_rewrites_only_its_partition(
    small_config: RunConfig, instance: dg.DagsterInstance
) -> None:
    register_batches(instance, small_config)
    defs = build_definitions(small_config)
    result = defs.resolve_job_def(FULL_JOB).execute_in_process(
        instance=instance, tags=full_range_tags(small_config)
    )
    assert result.success
    # One run, four partitions: each partition's materialization carries its own rows and
    # LLM usage, and a preview of its rows.
    translated = {
        event.partition: event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey("translate")
    }
    assert sorted(translated) == ["b0000|DE", "b0000|EN", "b0001|DE", "b0001|EN"]
    for partition, metadata in translated.items():
        assert metadata["dagster/row_count"].value == 6
        # The DE rows' translations; English drafts need none.
        assert metadata["llm/calls"].value == (6 if partition.endswith("DE") else 0)
        assert "preview" in metadata
    store = TicketStoreResource.for_config(small_config).get_store()
    before = {name: store.read_table(name) for name in small_config.pipeline}
    rerun = _materialize_partition(small_config, instance, "DE", "b0001", ["translate"])
    assert rerun.success
    events = rerun.get_asset_materialization_events()
    assert [(e.asset_key.to_user_string(), e.partition) for e in events] == [
        ("translate", "b0001|DE")
    ]
    assert events[0].materialization.metadata["dagster/row_count"].value == 6
    after = {name: store.read_table(name) for name in small_config.pipeline}
    for name in small_config.pipeline:
        pd.testing.assert_frame_equal(before[name], after[name])


def test_full_run_exports_parquet_and_csv(
    small_config: RunConfig, instance: dg.DagsterInstance
) -> None:
    register_batches(instance, small_config)
    defs = build_definitions(small_config)
    result = defs.resolve_job_def(FULL_JOB).execute_in_process(
        instance=instance, tags=full_range_tags(small_config)
    )
    assert result.success
    steps = {event.step_key for event in result.all_node_events if event.is_step_success}
    # One step per asset and per check, however many partitions the run covers.
    assert steps == {
        *small_config.pipeline,
        *(f"{name}_ticket_schema" for name in small_config.pipeline),
        *(f"{name}_fidelity" for name in FIDELITY_NODES),
        "node_staleness",  # the staleness checks of every node, in one step
        EXPORT_ASSET,
        COST_REPORT_ASSET,
        QUALITY_REPORT_ASSET,
    }
    parquet = pq.read_table(small_config.exports_path / "tickets.parquet")
    assert parquet.column_names[: len(EXPORT_COLUMNS)] == list(EXPORT_COLUMNS)
    assert str(parquet.schema.field("tags").type) == "list<element: string>"
    frame = parquet.to_pandas()
    assert len(frame) == 24
    csv = pd.read_csv(small_config.exports_path / "tickets.csv", dtype=str)
    assert list(csv.columns[: len(EXPORT_COLUMNS)]) == list(EXPORT_COLUMNS)
    assert csv["ticket_id"].tolist() == frame["ticket_id"].tolist()
    assert csv["tags"].tolist() == [",".join(tags) for tags in frame["tags"]]
    export_meta = result.asset_materializations_for_node(EXPORT_ASSET)[0].metadata
    assert export_meta["rows/language/DE"].value + export_meta["rows/language/EN"].value == 24
    assert not list(small_config.exports_path.glob("*.tmp"))


def test_cost_report_sums_the_ledger(small_config: RunConfig, instance: dg.DagsterInstance) -> None:
    register_batches(instance, small_config)
    defs = build_definitions(small_config)
    result = defs.resolve_job_def(FULL_JOB).execute_in_process(
        instance=instance, tags=full_range_tags(small_config)
    )
    report = result.asset_materializations_for_node(COST_REPORT_ASSET)[0].metadata
    calls = TicketStoreResource.for_config(small_config).get_store().read_table("llm_calls")
    assert report["llm/calls"].value == len(calls) == 24 * 5 + 12  # translate: DE only
    assert {"by_node_model", "by_language", "by_run_id_mode", "report"} <= set(report)
    assert "llm/cost_eur" in report


def test_scheduled_refresh_adds_a_batch_and_grows_the_export(
    small_config: RunConfig, instance: dg.DagsterInstance
) -> None:
    register_batches(instance, small_config)
    defs = build_definitions(small_config)
    job = defs.resolve_job_def(FULL_JOB)
    assert job.execute_in_process(instance=instance, tags=full_range_tags(small_config)).success
    schedule = defs.resolve_schedule_def(REFRESH_SCHEDULE)
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.build_schedule_context(instance=instance) as context:
        requests = schedule.evaluate_tick(context).run_requests
    assert requests is not None and len(requests) == 1
    batches = instance.get_dynamic_partitions(batch_partitions_name(small_config))
    assert batches == ["b0000", "b0001", "b0002"]
    assert job.execute_in_process(instance=instance, tags=requests[0].tags).success
    tickets = pd.read_parquet(small_config.exports_path / "tickets.parquet")
    assert len(tickets) == 24 + 12  # the new batch holds batch 0's quota: 6 per language
    assert tickets["ticket_id"].is_unique
    assert set(tickets["batch"]) == {"b0000", "b0001", "b0002"}


def test_runs_of_an_asset_selection_carry_the_run_tags(
    small_config: RunConfig, instance: dg.DagsterInstance
) -> None:
    """What the UI launches for an asset selection or a backfill is a run of Dagster's own
    asset job, without job tags: the node steps add them."""
    defs = build_definitions(small_config)
    register_batches(instance, small_config)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key("DE", "b0000"),
        asset_selection=[dg.AssetKey("topic")],
    )
    assert result.success
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["mode"] == "dev" and tags["model"] == "offline"
    assert tags["dataset"] == small_config.dataset
    report = job.execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey(COST_REPORT_ASSET)]
    )
    assert report.success
    assert instance.get_run_by_id(report.run_id).tags["dataset"] == small_config.dataset

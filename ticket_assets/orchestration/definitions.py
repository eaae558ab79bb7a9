"""Builds the Dagster Definitions for one run configuration."""

import dagster as dg

from ticket_assets.config import RunConfig
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.assets import (
    EXPORT_ASSET,
    NODE_GROUP,
    LedgerSink,
    export_asset,
    node_asset,
    store_for,
)
from ticket_assets.orchestration.checks import schema_check
from ticket_assets.orchestration.io_manager import DuckDBPartitionIOManager
from ticket_assets.orchestration.partitions import register_batches
from ticket_assets.orchestration.quality_checks import FIDELITY_NODES, fidelity_check
from ticket_assets.orchestration.refresh import refresh_schedule
from ticket_assets.orchestration.reports import (
    COST_REPORT_ASSET,
    QUALITY_REPORT_ASSET,
    cost_report_asset,
    quality_report_asset,
)

FULL_JOB = "all_tickets"
TRANSLATE_JOB = "translate_only"
EXPORT_JOB = "export_only"


def build_definitions(config: RunConfig, ledger_sink: LedgerSink | None = None) -> dg.Definitions:
    nodes = list(build_pipeline(config).names)
    assets = [
        node_asset(config, name, nodes[i - 1] if i else None, ledger_sink)
        for i, name in enumerate(nodes)
    ]
    assets += [export_asset(config), cost_report_asset(config), quality_report_asset(config)]
    checks = [schema_check(config, name) for name in nodes]
    checks += [
        fidelity_check(config, name, store_for(config)) for name in FIDELITY_NODES if name in nodes
    ]

    @dg.sensor(
        name="register_configured_batches",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Adds the batches the config plans as partitions, so they can be backfilled.",
    )
    def _register(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        added = register_batches(context.instance, config)
        return dg.SkipReason(f"added batches {added}" if added else "all batches registered")

    tags = {
        "mode": config.mode,
        "dataset": config.dataset,
        "model": config.model_for(nodes[0]).model,
    }
    finish = dg.AssetSelection.assets(EXPORT_ASSET, COST_REPORT_ASSET, QUALITY_REPORT_ASSET)
    jobs = [
        dg.define_asset_job(
            FULL_JOB,
            selection=dg.AssetSelection.groups(NODE_GROUP) | finish,
            description=(
                "Every node for the selected partitions, then the export with its quality "
                "checks, the cost report and the quality report."
            ),
            tags=tags,
        ),
        dg.define_asset_job(
            EXPORT_JOB,
            selection=finish,
            description=("Rewrite the export files, dataset card and reports from what is stored."),
            tags=tags,
        ),
    ]
    if "translate" in nodes:
        jobs.append(
            dg.define_asset_job(
                TRANSLATE_JOB,
                selection=dg.AssetSelection.assets("translate"),
                description="Translation only: upstream assets are read, not recomputed.",
                tags={**tags, "model": config.model_for("translate").model},
            )
        )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=[refresh_schedule(config, FULL_JOB)],
        sensors=[_register],
        resources={
            "io_manager": DuckDBPartitionIOManager(
                database=str(config.database_path), schema_name=config.dataset
            )
        },
        executor=dg.in_process_executor,
    )

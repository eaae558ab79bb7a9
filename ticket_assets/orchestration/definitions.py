"""The Dagster Definitions of one run configuration: what each module of orchestration/
declares (assets.py and reports.py, checks.py and quality_checks.py, jobs.py, schedules.py,
sensors.py), over the resources of resources.py and the I/O manager of io_manager.py."""

import dagster as dg

from ticket_assets.config import RunConfig
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.assets import export_asset, node_asset
from ticket_assets.orchestration.checks import schema_check
from ticket_assets.orchestration.io_manager import DuckDBPartitionIOManager
from ticket_assets.orchestration.jobs import FULL_JOB, ticket_jobs
from ticket_assets.orchestration.quality_checks import FIDELITY_NODES, fidelity_check
from ticket_assets.orchestration.reports import cost_report_asset, quality_report_asset
from ticket_assets.orchestration.resources import (
    IO_MANAGER,
    LLM,
    STORE,
    TABLES,
    LLMResource,
    TablesResource,
    TicketStoreResource,
)
from ticket_assets.orchestration.schedules import refresh_schedule
from ticket_assets.orchestration.sensors import register_batches_sensor
from ticket_assets.orchestration.staleness import staleness_check


def ticket_resources(
    config: RunConfig,
    *,
    store: TicketStoreResource | None = None,
    tables: TablesResource | None = None,
) -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    """The resources of `config`'s Definitions. A test may pass its own store or tables: the
    I/O manager and the LLM facade are then built over them."""
    store = store or TicketStoreResource.for_config(config)
    tables = tables or TablesResource.for_config(config)
    return {
        STORE: store,
        TABLES: tables,
        LLM: LLMResource(config=config, tables=tables),
        IO_MANAGER: DuckDBPartitionIOManager(store=store),
    }


def build_definitions(config: RunConfig) -> dg.Definitions:
    nodes = build_pipeline(config).names
    before = [None, *nodes[:-1]]
    assets = [node_asset(config, name, up) for name, up in zip(nodes, before, strict=True)]
    assets += [export_asset(config), cost_report_asset(config), quality_report_asset(config)]
    checks = [schema_check(config, name) for name in nodes]
    checks += [fidelity_check(config, name) for name in FIDELITY_NODES if name in nodes]
    checks.append(staleness_check(config))
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=ticket_jobs(config),
        schedules=[refresh_schedule(config, FULL_JOB)],
        sensors=[register_batches_sensor(config)],
        resources=ticket_resources(config),
        executor=dg.in_process_executor,
    )

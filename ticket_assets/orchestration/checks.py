"""Blocking asset checks: the ticket schema over each node's whole table, with failure
counts and sample rows as metadata. (Node outputs are also validated before they are
written, so a failing check points at rows written by an older configuration.)"""

import dagster as dg

from ticket_assets.config import RunConfig
from ticket_assets.orchestration.resources import TablesResource, TicketStoreResource
from ticket_assets.schema import check_frame, ticket_schema


def schema_check(config: RunConfig, node_name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=node_name,
        name="ticket_schema",
        blocking=True,
        description=(
            "pandera ticket schema over the whole table: labels in tables/, configured "
            "languages, 4-8 tags, non-empty text, ticket_id 12-13 digits and unique."
        ),
    )
    def _check(store: TicketStoreResource, tables: TablesResource) -> dg.AssetCheckResult:
        table = store.get_store().read_table(node_name)
        rows = table[table["language"].isin(list(config.languages))].reset_index(drop=True)
        report = check_frame(ticket_schema(config, tables.get_tables(), rows.columns), rows)
        return dg.AssetCheckResult(
            passed=report.passed,
            metadata={
                "rows_checked": len(rows),
                "failures": report.failures,
                "failed_rows": report.failed_rows,
                "details": dg.MetadataValue.md(report.markdown()),
            },
        )

    return _check

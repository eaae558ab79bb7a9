"""Jobs: every node then the export and reports; the export and reports alone; translate only."""

from typing import Any

import dagster as dg

from ticket_assets.config import RunConfig
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.assets import EXPORT_ASSET, NODE_GROUP
from ticket_assets.orchestration.reports import COST_REPORT_ASSET, QUALITY_REPORT_ASSET
from ticket_assets.orchestration.run_tags import run_tags

FULL_JOB = "all_tickets"
TRANSLATE_JOB = "translate_only"
EXPORT_JOB = "export_only"


def ticket_jobs(config: RunConfig) -> list[Any]:
    """The jobs (unresolved: the Definitions bind them to the assets)."""
    nodes = build_pipeline(config).names
    tags = run_tags(config, nodes)
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
            description="Rewrite the export files, dataset card and reports from what is stored.",
            tags=tags,
        ),
    ]
    if "translate" in nodes:
        jobs.append(
            dg.define_asset_job(
                TRANSLATE_JOB,
                selection=dg.AssetSelection.assets("translate"),
                description="Translation only: upstream assets are read, not recomputed.",
                tags=run_tags(config, ["translate"]),
            )
        )
    return jobs

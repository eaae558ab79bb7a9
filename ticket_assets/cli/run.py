"""`run`: every node for every configured partition, then the export, in one in-process
Dagster run with a progress bar, and a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

import dagster as dg

from ticket_assets.cli.instance import open_instance
from ticket_assets.cli.progress import RunProgress
from ticket_assets.cli.runs import execute, report_failure
from ticket_assets.cli.summary import (
    quality_verdict,
    quarantine_verdict,
    quarantined,
    summary,
)
from ticket_assets.config import ConfigError, RunConfig
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.accounting import run_calls
from ticket_assets.orchestration.assets import EXPORT_ASSET
from ticket_assets.orchestration.definitions import build_definitions
from ticket_assets.orchestration.jobs import FULL_JOB
from ticket_assets.orchestration.partitions import full_range_tags, register_batches
from ticket_assets.orchestration.reports import COST_REPORT_ASSET, QUALITY_REPORT_ASSET
from ticket_assets.orchestration.resources import TicketStoreResource


def handle(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    selection = asset_selection(config, args.select)
    nodes = [name for name in build_pipeline(config).names if not selection or name in selection]
    progress = RunProgress(config, nodes)
    defs = build_definitions(config)
    with open_instance(args) as instance:
        register_batches(instance, config)
        result = execute(
            defs.resolve_job_def(FULL_JOB),
            log_path,
            progress,
            instance=instance,
            tags=full_range_tags(config),
            asset_selection=[dg.AssetKey(name) for name in selection] if selection else None,
        )
    progress.close()
    if not result.success:
        return report_failure(result, log_path)
    exported = selection is None or EXPORT_ASSET in selection
    rejects = quarantined(config)
    calls = run_calls(TicketStoreResource.for_config(config).get_store(), result.run_id)
    print(summary(config, calls, rejects, exported=exported))
    if not args.strict:
        return 0
    return max(quarantine_verdict(config, rejects), quality_verdict(config) if exported else 0)


def asset_selection(config: RunConfig, select: str | None) -> list[str] | None:
    """The assets `--select` names, checked against this config's assets."""
    if not select:
        return None
    known = [*build_pipeline(config).names, EXPORT_ASSET, COST_REPORT_ASSET, QUALITY_REPORT_ASSET]
    names = [name.strip() for name in select.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ConfigError(f"--select: unknown asset {unknown}; allowed: {', '.join(known)}")
    return names

"""`run`: every node for every configured partition, then the export, in one in-process
Dagster run with a progress bar, and a summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import dagster as dg
from tqdm import tqdm

from ticket_assets.cli.instance import open_instance
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
from ticket_assets.orchestration.partitions import full_range_tags, register_batches, split_keys
from ticket_assets.orchestration.reports import COST_REPORT_ASSET, QUALITY_REPORT_ASSET
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.plan import batch_index, rows_in_partition


def handle(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    return run_pipeline(
        config,
        record=args.record_runs,
        selection=asset_selection(config, args.select),
        strict=args.strict,
        log_path=log_path,
    )


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


def run_pipeline(
    config: RunConfig,
    *,
    record: bool = False,
    selection: list[str] | None = None,
    strict: bool = False,
    log_path: Path,
) -> int:
    names = build_pipeline(config).names
    nodes = [name for name in names if selection is None or name in selection]
    total = config.rows * len(nodes)
    bar = tqdm(total=total, unit="ticket-steps", desc="generating", file=sys.stderr)

    def progress(asset: str, partition: str | None) -> None:
        if asset in nodes and partition is not None:
            ((language, batch),) = split_keys([partition])
            bar.set_postfix_str(asset, refresh=False)
            bar.update(rows_in_partition(config, language, batch_index(batch)))

    defs = build_definitions(config)
    with open_instance(record) as instance:
        register_batches(instance, config)
        result = execute(
            defs.resolve_job_def(FULL_JOB),
            log_path,
            progress,
            instance=instance,
            tags=full_range_tags(config),
            asset_selection=[dg.AssetKey(name) for name in selection] if selection else None,
        )
    bar.close()
    if not result.success:
        return report_failure(result, log_path)
    exported = selection is None or EXPORT_ASSET in selection
    rejects = quarantined(config)
    calls = run_calls(TicketStoreResource.for_config(config).get_store(), result.run_id)
    print(summary(config, calls, rejects, exported=exported))
    if not strict:
        return 0
    return max(quarantine_verdict(config, rejects), quality_verdict(config) if exported else 0)

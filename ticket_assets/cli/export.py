"""`export`: rewrite the export files, card and quality report from what DuckDB holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from ticket_assets.cli.instance import open_instance
from ticket_assets.cli.runs import execute, report_failure
from ticket_assets.cli.summary import quality_summary, quality_verdict
from ticket_assets.config import RunConfig
from ticket_assets.orchestration.definitions import build_definitions
from ticket_assets.orchestration.jobs import EXPORT_JOB
from ticket_assets.orchestration.partitions import register_batches
from ticket_assets.quality import QUALITY_FILE, QualityReport


def handle(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    job = build_definitions(config).resolve_job_def(EXPORT_JOB)
    with open_instance(args) as instance:
        register_batches(instance, config)
        result = execute(job, log_path, instance=instance)
    if not result.success:
        return report_failure(result, log_path)
    report = QualityReport.read(config.exports_path / QUALITY_FILE)
    print("\n".join([f"exports written to {config.exports_path}", *quality_summary(report)]))
    return quality_verdict(config) if args.strict else 0

"""What a run or an export prints when it ends, and its --strict verdicts."""

from __future__ import annotations

import sys

import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.export import EXPORT_STEM, export_files
from ticket_assets.llm.ledger import summarize
from ticket_assets.llm.quarantine import current_rejects, quarantine_summary
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.plan import batch_keys, rows_per_language
from ticket_assets.quality import QUALITY_FILE, QualityReport
from ticket_assets.quality.card import CARD_FILE
from ticket_assets.storage import (
    REJECT_COLUMNS,
    REJECTS_TABLE,
    Lake,
    MissingTableError,
    backend_for,
)
from ticket_assets.storage.objects import exports_destination

EXPORT_LABELS = {"parquet": "Parquet", "csv": "CSV", "jsonl": "JSONL", "wide": "Wide"}


def summary(
    config: RunConfig, calls: pd.DataFrame, rejects: pd.DataFrame, *, exported: bool = True
) -> str:
    """The run's summary; `calls` are the ledger rows the run booked (`run_calls`)."""
    lines = [f"dataset {config.dataset!r}, mode {config.mode}"]
    if exported:
        lines += _exported_tickets(config)
    lines += ["", f"quarantine: {quarantine_summary(rejects)}"]
    usage = summarize(calls, ["node", "model"], config.currency)
    totals = summarize(calls.assign(run="total"), ["run"], config.currency)
    lines += ["", f"LLM usage by node and model (rates of {config.currency.date}):"]
    lines += ["  " + line for line in usage.to_string(index=False).splitlines()]
    lines += ["  " + line for line in totals.to_string(index=False).splitlines()]
    if exported:
        lines += quality_summary(QualityReport.read(config.exports_path / QUALITY_FILE))
        lines += ["", *_export_paths(config)]
    else:
        lines += ["", "the export was not selected: `export` rewrites the files"]
    backend = backend_for(config)
    if isinstance(backend, Lake):
        if exported:
            lines.append(f"Copies:  {exports_destination(backend.data_path, config.dataset)}")
        lines.append(f"Lake:    {backend} (schema {config.dataset})")
    else:
        lines.append(f"DuckDB:  {backend} (schema {config.dataset})")
    return "\n".join(lines)


def _exported_tickets(config: RunConfig) -> list[str]:
    tickets = pd.read_parquet(config.exports_path / f"{EXPORT_STEM}.parquet", columns=["language"])
    counts = tickets["language"].value_counts().reindex(list(config.languages), fill_value=0)
    planned = rows_per_language(config)
    lines = [
        f"{len(tickets)} tickets exported",
        "",
        "tickets per language (this run's plan in brackets):",
        *(f"  {code}: {count} ({planned[code]})" for code, count in counts.items()),
    ]
    if len(tickets) != config.rows:
        lines += [
            "",
            f"note: the export holds {len(tickets)} tickets, not {config.rows}: the UI's "
            "instance has more batches registered (e.g. from scheduled refreshes).",
        ]
    return lines


def _export_paths(config: RunConfig) -> list[str]:
    lines = [
        f"{EXPORT_LABELS[key] + ':':9}{config.exports_path / name}"
        for key, name in export_files(config.export).items()
        if key in EXPORT_LABELS  # split files sit beside their format's file
    ]
    lines.append(f"Card:    {config.exports_path / CARD_FILE} (plots and {QUALITY_FILE} beside it)")
    if config.export.splits:
        lines.append(f"Splits:  {', '.join(config.export.splits)} (e.g. tickets_<split>.parquet)")
    return lines


def quality_summary(report: QualityReport) -> list[str]:
    verdict = "all passed" if report.passed else f"FAILED: {', '.join(report.failed)}"
    return [
        "",
        f"quality checks ({verdict}):",
        *(
            f"  {check.title}: {'passed' if check.passed else 'FAILED'}, {check.headline}"
            for check in report.checks
        ),
        f"  {report.dropped_line()}",
    ]


def quarantined(config: RunConfig) -> pd.DataFrame:
    """The tickets of this run's plan left out in quarantine (the `rejects` table)."""
    try:
        rejects = TicketStoreResource.for_config(config).get_store().read_table(REJECTS_TABLE)
    except MissingTableError:
        return pd.DataFrame(columns=list(REJECT_COLUMNS))
    names = build_pipeline(config).names
    return current_rejects(rejects, names, config.languages, batch_keys(config))


def quarantine_verdict(config: RunConfig, rejects: pd.DataFrame) -> int:
    """For --strict: 1 when any ticket was quarantined (the export holds the others)."""
    if rejects.empty:
        return 0
    print(
        f"error: {rejects['ticket_id'].nunique()} tickets quarantined (see the DuckDB table "
        f"{config.dataset}.{REJECTS_TABLE}); run the same command again to retry them",
        file=sys.stderr,
    )
    return 1


def quality_verdict(config: RunConfig) -> int:
    """For --strict: 1 when a quality check failed, so scripts and CI notice; the export is
    written anyway (its card and quality.json say what failed)."""
    report = QualityReport.read(config.exports_path / QUALITY_FILE)
    if report.passed:
        return 0
    print(
        f"error: quality checks failed: {', '.join(report.failed)} "
        f"(see {config.exports_path / CARD_FILE})",
        file=sys.stderr,
    )
    return 1

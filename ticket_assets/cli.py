"""What the CLI commands do: in-process Dagster runs with a progress bar and a summary."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from tqdm import tqdm

from ticket_assets.config import PROJECT_ROOT, ConfigError, RunConfig
from ticket_assets.export import EXPORT_STEM, export_files
from ticket_assets.llm.cache import CacheCorruptError, ResponseCache
from ticket_assets.llm.ledger import summarize
from ticket_assets.llm.quarantine import current_rejects, quarantine_summary
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.accounting import run_calls
from ticket_assets.orchestration.assets import EXPORT_ASSET
from ticket_assets.orchestration.cli_loggers import (
    CLI_LOGGERS,
    OnMaterialized,
    cli_run_config,
    materialization_logger,
)
from ticket_assets.orchestration.definitions import build_definitions
from ticket_assets.orchestration.jobs import EXPORT_JOB, FULL_JOB
from ticket_assets.orchestration.partitions import full_range_tags, register_batches, split_keys
from ticket_assets.orchestration.reports import COST_REPORT_ASSET, QUALITY_REPORT_ASSET
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.plan import batch_index, batch_keys, rows_in_partition, rows_per_language
from ticket_assets.quality import QUALITY_FILE, QualityReport
from ticket_assets.quality.card import CARD_FILE
from ticket_assets.storage import REJECT_COLUMNS, REJECTS_TABLE, MissingTableError

# --- failed runs: one `error:` line per failed step, the stack traces in the log file ---


PROGRESS_LOGGER = "progress"


def _execute(
    job: dg.JobDefinition,
    log_path: Path,
    on_materialized: OnMaterialized | None = None,
    **options: Any,
) -> dg.ExecuteInProcessResult:
    """Run in-process with the CLI's loggers: Dagster's console logger would print every
    event, and each failure's stack trace; the CLI shows a progress bar, fed by the run's
    materialization events (`on_materialized`), and one line."""
    loggers = dict(CLI_LOGGERS)
    if on_materialized is not None:
        loggers[PROGRESS_LOGGER] = materialization_logger(on_materialized)
    run_config = cli_run_config(log_path, tuple(set(loggers) - set(CLI_LOGGERS)))
    return job.with_logger_defs(loggers).execute_in_process(
        run_config=run_config, raise_on_error=False, **options
    )


def _report_failure(result: dg.ExecuteInProcessResult, log_path: Path) -> int:
    if log_path.exists():
        print(f"full trace: {log_path}", file=sys.stderr)
    for message in _failure_messages(result):
        print(f"error: {message}", file=sys.stderr)
    return 1


def _failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """The error under Dagster's wrappers of each failed step: our own message (not its own
    cause: our messages already say what went wrong and where), on one line."""
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while (
            error is not None and error.cause is not None and error.cls_name.startswith("Dagster")
        ):
            error = error.cause
        text = error.message.strip() if error is not None else "unknown error"
        # Our own errors' messages say it all; Dagster prefixes the exception's class path.
        text = re.sub(
            r"^(ticket_assets(\.\w+)+|dagster\._core\.definitions\.events\.Failure): ", "", text
        )
        messages.append(f"step {event.step_key} failed: {' '.join(text.split())}")
    return messages or ["the run failed"]


# --- end of failed runs ---


def _instance(record: bool) -> dg.DagsterInstance:
    """The UI's persistent instance when recording, else an in-memory one for this run."""
    return dg.DagsterInstance.get() if record else dg.DagsterInstance.ephemeral()


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
    with _instance(record) as instance:
        register_batches(instance, config)
        result = _execute(
            defs.resolve_job_def(FULL_JOB),
            log_path,
            progress,
            instance=instance,
            tags=full_range_tags(config),
            asset_selection=[dg.AssetKey(name) for name in selection] if selection else None,
        )
    bar.close()
    if not result.success:
        return _report_failure(result, log_path)
    exported = selection is None or EXPORT_ASSET in selection
    rejects = quarantined(config)
    calls = run_calls(TicketStoreResource.for_config(config).get_store(), result.run_id)
    print(summary(config, calls, rejects, exported=exported))
    if not strict:
        return 0
    return max(_quarantine_verdict(config, rejects), _quality_verdict(config) if exported else 0)


def quarantined(config: RunConfig) -> pd.DataFrame:
    """The tickets of this run's plan left out in quarantine (the `rejects` table)."""
    try:
        rejects = TicketStoreResource.for_config(config).get_store().read_table(REJECTS_TABLE)
    except MissingTableError:
        return pd.DataFrame(columns=list(REJECT_COLUMNS))
    names = build_pipeline(config).names
    return current_rejects(rejects, names, config.languages, batch_keys(config))


def _quarantine_verdict(config: RunConfig, rejects: pd.DataFrame) -> int:
    """For --strict: 1 when any ticket was quarantined (the export holds the others)."""
    if rejects.empty:
        return 0
    print(
        f"error: {rejects['ticket_id'].nunique()} tickets quarantined (see the DuckDB table "
        f"{config.dataset}.{REJECTS_TABLE}); run the same command again to retry them",
        file=sys.stderr,
    )
    return 1


def run_export(
    config: RunConfig, *, record: bool = False, strict: bool = False, log_path: Path
) -> int:
    job = build_definitions(config).resolve_job_def(EXPORT_JOB)
    with _instance(record) as instance:
        register_batches(instance, config)
        result = _execute(job, log_path, instance=instance)
    if not result.success:
        return _report_failure(result, log_path)
    report = QualityReport.read(config.exports_path / QUALITY_FILE)
    print("\n".join([f"exports written to {config.exports_path}", *quality_summary(report)]))
    return _quality_verdict(config) if strict else 0


def _quality_verdict(config: RunConfig) -> int:
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


def summary(
    config: RunConfig, calls: pd.DataFrame, rejects: pd.DataFrame, *, exported: bool = True
) -> str:
    """The run's summary; `calls` are the ledger rows the run booked (`run_calls`)."""
    lines = [f"dataset {config.dataset!r}, mode {config.mode}"]
    if exported:
        path = config.exports_path / f"{EXPORT_STEM}.parquet"
        tickets = pd.read_parquet(path, columns=["language"])
        counts = tickets["language"].value_counts().reindex(list(config.languages), fill_value=0)
        planned = rows_per_language(config)
        lines += [
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
    lines += ["", f"quarantine: {quarantine_summary(rejects)}"]
    usage = summarize(calls, ["node", "model"], config.currency)
    totals = summarize(calls.assign(run="total"), ["run"], config.currency)
    lines += ["", f"LLM usage by node and model (rates of {config.currency.date}):"]
    lines += ["  " + line for line in usage.to_string(index=False).splitlines()]
    lines += ["  " + line for line in totals.to_string(index=False).splitlines()]
    if exported:
        lines += quality_summary(QualityReport.read(config.exports_path / QUALITY_FILE))
        labels = {"parquet": "Parquet", "csv": "CSV", "jsonl": "JSONL", "wide": "Wide"}
        lines += [
            "",
            *(
                f"{labels[key] + ':':9}{config.exports_path / name}"
                for key, name in export_files(config.export).items()
                if key in labels  # split files sit beside their format's file
            ),
            f"Card:    {config.exports_path / CARD_FILE} (plots and {QUALITY_FILE} beside it)",
        ]
        if config.export.splits:
            lines.append(
                f"Splits:  {', '.join(config.export.splits)} (e.g. tickets_<split>.parquet)"
            )
    else:
        lines += ["", "the export was not selected: `export` rewrites the files"]
    lines.append(f"DuckDB:  {config.database_path} (schema {config.dataset})")
    return "\n".join(lines)


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


def run_ui(config: RunConfig, args: argparse.Namespace) -> int:
    """Register the configured batches, then serve the UI: the Dagster webserver plus the
    daemon (schedules, sensors, the run queue, backfills) with its short backfill loop
    (orchestration/daemon.py), as `dagster dev` would but without its 30 s backfill waits.
    Runs until Ctrl-C or SIGTERM, then stops both."""
    with dg.DagsterInstance.get() as instance:
        register_batches(instance, config)
    port = str(args.port or os.environ.get("PORT") or 3000)
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    env = {**os.environ, "TICKET_ASSETS_MODE": config.mode}
    if args.config:
        env["TICKET_ASSETS_CONFIG"] = str(Path(args.config).resolve())
    daemon = "ticket_assets.orchestration.daemon"
    services = {
        "webserver": [sys.executable, "-m", "dagster_webserver", "-w", workspace, "-p", port],
        "daemon": [sys.executable, "-m", daemon, "run", "-w", workspace],
    }
    print(f"Dagster UI on http://127.0.0.1:{port} (instance {os.environ['DAGSTER_HOME']})")
    sys.stdout.flush()
    # SIGTERM ends the wait below like Ctrl-C does, so `finally` stops both services.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    processes = {name: subprocess.Popen(command, env=env) for name, command in services.items()}
    try:
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"error: the {name} stopped (exit code {process.returncode})")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(list(processes.values()))


def _stop(processes: list[subprocess.Popen[bytes]], grace_s: float = 15) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_estimate(config: RunConfig) -> int:
    from ticket_assets.estimate import estimate_run  # imports litellm (seconds): only here

    table = estimate_run(config)
    total = table.drop(columns=["node", "model"]).sum()
    lines = [
        f"estimate for dataset {config.dataset!r}, mode {config.mode}: {config.rows} tickets in "
        f"{', '.join(config.languages)} (rates of {config.currency.date})",
        "",
        *("  " + line for line in table.to_string(index=False).splitlines()),
        "",
        f"total: {int(total['calls'])} calls, {int(total['input_tokens'])} input tokens, "
        f"expected ${total['expected_cost_usd']:.4f}, at most ${total['max_cost_usd']:.4f}",
    ]
    if config.budget_usd is not None:
        verdict = "fits" if total["max_cost_usd"] <= config.budget_usd else "may exceed"
        lines.append(f"budget ${config.budget_usd:.4f}: the maximum {verdict} it")
    print("\n".join(lines))
    return 0


def run_cache(config: RunConfig, action: str) -> int:
    cache = ResponseCache(config.cache_path)
    try:
        return _cache_action(cache, action)
    except CacheCorruptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _cache_action(cache: ResponseCache, action: str) -> int:
    if action == "clear":
        print(f"removed {cache.clear()} cached responses from {cache.path}")
    else:
        stats = cache.stats()
        models = ", ".join(f"{model}: {n}" for model, n in sorted(stats.per_model.items()))
        print(
            f"{cache.path}: {stats.entries} cached responses, "
            f"{stats.size_bytes / 1e6:.1f} MB" + (f" ({models})" if models else "")
        )
    return 0

"""In-process Dagster runs for the CLI: its own loggers (Dagster's console logger would print
every event, and each failure's stack trace) and one `error:` line per failed step, the stack
traces in the log file."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from ticket_assets.cli.instance import cli_run_tags
from ticket_assets.cli.progress import RunProgress
from ticket_assets.orchestration.cli_loggers import CLI_LOGGERS, cli_run_config, progress_logger

PROGRESS_LOGGER = "progress"


def execute(
    job: dg.JobDefinition,
    log_path: Path,
    progress: RunProgress | None = None,
    **options: Any,
) -> dg.ExecuteInProcessResult:
    """Run in-process with the CLI's loggers; `progress` is fed by the run's materializations
    and progress records."""
    loggers = dict(CLI_LOGGERS)
    if progress is not None:
        loggers[PROGRESS_LOGGER] = progress_logger(progress.materialized, progress.report)
    run_config = cli_run_config(log_path, tuple(set(loggers) - set(CLI_LOGGERS)))
    tags = {**options.pop("tags", {}), **cli_run_tags()}
    return job.with_logger_defs(loggers).execute_in_process(
        run_config=run_config, raise_on_error=False, tags=tags, **options
    )


def report_failure(result: dg.ExecuteInProcessResult, log_path: Path) -> int:
    if log_path.exists():
        print(f"full trace: {log_path}", file=sys.stderr)
    for message in failure_messages(result):
        print(f"error: {message}", file=sys.stderr)
    return 1


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
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

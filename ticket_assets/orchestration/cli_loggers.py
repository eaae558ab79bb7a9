"""Dagster loggers for the CLI's in-process runs.

Dagster's console logger prints every ERROR event with its stack trace (80-120 lines per
failed step) before the CLI's own one-line summary. In its place: warnings on the terminal,
one line each, and every WARNING or ERROR event, stack traces included, in a log file. A
third logger subscribes the CLI's progress line to the run's asset materializations and
progress records (core/progress.py).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from ticket_assets.core.progress import PROGRESS_EXTRA, CallProgress, StageProgress
from ticket_assets.core.secrets import redact

# The dict Dagster attaches to each record it logs (dagster._core.log_manager).
DAGSTER_RECORD_METADATA = "dagster_meta"


class _TerminalWarnings(logging.Handler):
    """Warnings as `warning: <step>: <message>`; errors are left to the CLI's summary."""

    def filter(self, record: logging.LogRecord) -> bool:
        return logging.WARNING <= record.levelno < logging.ERROR

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, DAGSTER_RECORD_METADATA, None) or {}
        step = f"{meta['step_key']}: " if meta.get("step_key") else ""
        message = meta.get("orig_message") or record.getMessage()
        print(redact(f"warning: {step}{message}"), file=sys.stderr)


class _AppendingFileHandler(logging.Handler):
    """Appends each record to a file opened only then: runs without warnings or failures
    leave no file, and no handle stays open after the run."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.WARNING)
        self.path = path
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as log:
            log.write(redact(self.format(record)) + "\n")


@dg.logger(description="Warnings on the terminal, one line each; errors are left out.")
def terminal_logger(_: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("ticket_assets.run", logging.WARNING)
    logger.addHandler(_TerminalWarnings())
    return logger


@dg.logger(
    {"path": dg.Field(str, description="the log file")},
    description="Warnings and errors with their stack traces, appended to a file.",
)
def trace_file_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("ticket_assets.trace", logging.WARNING)
    logger.addHandler(_AppendingFileHandler(Path(init_context.logger_config["path"])))
    return logger


CLI_LOGGERS = {"terminal": terminal_logger, "trace_file": trace_file_logger}

# Called with the asset's name and partition key (None when unpartitioned).
OnMaterialized = Callable[[str, str | None], None]
# Called with the figures of a progress record (core/progress.py).
OnProgress = Callable[[CallProgress | StageProgress], None]


class _RunEvents(logging.Handler):
    """Passes each ASSET_MATERIALIZATION event of the run, and each progress record, to the
    CLI's callbacks."""

    def __init__(self, on_materialized: OnMaterialized, on_progress: OnProgress) -> None:
        super().__init__(logging.DEBUG)
        self.on_materialized = on_materialized
        self.on_progress = on_progress

    def emit(self, record: logging.LogRecord) -> None:
        progress = getattr(record, PROGRESS_EXTRA, None)
        if progress is not None:
            self.on_progress(progress)
            return
        meta = getattr(record, DAGSTER_RECORD_METADATA, None) or {}
        event = meta.get("dagster_event")
        if event is not None and event.is_step_materialization and event.asset_key is not None:
            self.on_materialized(event.asset_key.path[-1], event.partition)


def progress_logger(
    on_materialized: OnMaterialized, on_progress: OnProgress
) -> dg.LoggerDefinition:
    """A logger subscribing the CLI's progress line to the run's materializations and progress
    records (Dagster logs materializations at DEBUG level, so this logger's level is DEBUG; it
    prints nothing)."""

    @dg.logger(description="Reports materializations and progress to the CLI's progress line.")
    def _progress(_: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.Logger("ticket_assets.progress", logging.DEBUG)
        logger.addHandler(_RunEvents(on_materialized, on_progress))
        return logger

    return _progress


def cli_run_config(log_path: Path, extra_loggers: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run config for the CLI_LOGGERS (traces go to `log_path`) and `extra_loggers`, loggers
    without config such as `progress_logger`."""
    return {
        "loggers": {
            "terminal": {"config": {}},
            "trace_file": {"config": {"path": str(log_path)}},
            **{name: {"config": {}} for name in extra_loggers},
        }
    }

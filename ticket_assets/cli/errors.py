"""How the CLI ends: exit codes, and one `error:` line per failure (stack traces go to the
log file under the data directory, which the output names)."""

from __future__ import annotations

import sys
from pathlib import Path

from ticket_assets.config import ConfigError
from ticket_assets.core.run_lock import DataDirBusyError
from ticket_assets.core.run_logs import write_exception

# Exit codes: bad input (config, flags, files), a run that failed, Ctrl-C.
BAD_INPUT, RUN_FAILED, INTERRUPTED = 2, 1, 130


def fail(message: str, code: int) -> int:
    for line in message.splitlines():
        print(f"error: {line}", file=sys.stderr)
    return code


def report(error: Exception, log_path: Path) -> int:
    """One `error:` line and the exit code: 2 for bad input, 1 for anything else, whose
    stack trace goes to the log file (a bug, or a failure nobody foresaw)."""
    if isinstance(error, ConfigError):
        return fail(str(error), BAD_INPUT)
    if isinstance(error, DataDirBusyError):
        return fail(str(error), RUN_FAILED)
    trace = write_exception(log_path, error)
    if trace is not None:
        print(f"full trace: {trace}", file=sys.stderr)
    first_line = next(iter(str(error).strip().splitlines()), "")
    return fail(f"unexpected {type(error).__name__}: {first_line}", RUN_FAILED)

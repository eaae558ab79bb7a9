"""Where the CLI puts full traces: `<data_dir>/logs/<timestamp>-<command>.log`.

The terminal gets one `error:` line per failure; the stack traces behind it go to the log
file, which the error output names.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import traceback
from pathlib import Path

from ticket_assets.core.secrets import redact

LOGS_DIR = "logs"


def new_log_path(data_path: Path, command: str) -> Path:
    """A log file for this command, named by start time (created only when written to)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return data_path / LOGS_DIR / f"{stamp}-{command}.log"


def write_exception(log_path: Path, error: BaseException) -> Path | None:
    """Append the exception's full trace and say where it went: the temp directory when the
    data directory cannot be written (the error may be about that very directory)."""
    text = redact("".join(traceback.format_exception(error)))
    for path in (log_path, Path(tempfile.gettempdir()) / log_path.name):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as log:
                log.write(text)
            return path
        except OSError:
            continue
    return None

"""Command line: `python -m ticket_assets [run|export|estimate|cache|lake|ui|evaluate|init] [flags]`
(installed: `ticket-assets ...`).

arguments.py  the parser: COMMANDS (one subcommand each, with its flag groups)
errors.py     exit codes and the one `error:` line per failure
dispatch.py   the checks a command needs, then its handler (the first module here that
              imports Dagster and pandas: --help and config errors do not wait for them)
run.py, export.py, estimate.py, cache.py, lake.py, ui.py, evaluate.py, init.py   one
              module per command
runs.py       in-process Dagster runs with the CLI's loggers and one line per failure
instance.py   the Dagster instance the UI opens (and recorded runs are written to)
summary.py    what a run prints when it ends
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from ticket_assets.cli import init
from ticket_assets.cli.arguments import (
    COMMANDS,
    PROG,
    data_path_without_config,
    load_args_config,
    overrides,
    parse,
)
from ticket_assets.cli.errors import INTERRUPTED, fail, report
from ticket_assets.config import configured_data_path
from ticket_assets.core.run_lock import hold_data_dir
from ticket_assets.core.run_logs import new_log_path

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Every failure ends the output with one `error:` line; stack traces go to a log file
    under the data directory, which the output names."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse(arguments)
    if args.command == "init":  # no config and no data directory yet
        return init.handle(args)
    log_path = new_log_path(data_path_without_config(args), args.command)
    try:
        # The data directory first: its run lock is taken before the config's slow checks.
        data_path = configured_data_path(args.config, mode=args.mode, overrides=overrides(args))
        log_path = new_log_path(data_path, args.command)
        with _data_dir_lock(args.command, data_path, arguments):
            config = load_args_config(args)
            # Deferred: Dagster and pandas take seconds to import (the one deferred import of
            # the CLI; ticket_assets_tests/test_imports.py checks what --help imports).
            from ticket_assets.cli.dispatch import dispatch

            return dispatch(args, config, log_path)
    except KeyboardInterrupt:
        return fail("interrupted", INTERRUPTED)
    except Exception as error:
        return report(error, log_path)


def _data_dir_lock(
    command: str, data_path: Path, arguments: list[str]
) -> AbstractContextManager[None]:
    """Runs and exports hold the data directory, so a second one stops at once."""
    if not COMMANDS[command].writes_data_dir:
        return nullcontext()
    return hold_data_dir(data_path, shlex.join([*PROG.split(), *arguments]))

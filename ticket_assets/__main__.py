"""Command line: `python -m ticket_assets [run|export|estimate|cache|ui] [flags]`.

`run` (the default) materializes every node for every configured partition, then the
export, in one in-process Dagster run, and prints a summary. The run uses an in-memory
Dagster instance unless `--record-runs` asks for the persistent one `make ui` opens:
Dagster writes one SQLite event per partition and asset there, which costs more than the
generation itself on large runs (see bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import difflib
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, NoReturn

from ticket_assets.config import (
    DEFAULT_DATA_DIR,
    MODES,
    PROJECT_ROOT,
    ConfigError,
    RunConfig,
    configured_data_path,
    load_config,
)
from ticket_assets.core.run_lock import DataDirBusyError, hold_data_dir
from ticket_assets.core.run_logs import new_log_path, write_exception

COMMANDS = ("run", "export", "estimate", "cache", "ui")
HELP_FLAGS = ("-h", "--help")
# Commands that write the data directory: one at a time per directory (run_lock.py).
LOCKED_COMMANDS = ("run", "export")
# Exit codes: bad input (config, flags, files), a run that failed, Ctrl-C.
BAD_INPUT, RUN_FAILED, INTERRUPTED = 2, 1, 130
# The flag behind each config override, so config errors name the flag, not the file.
OVERRIDE_FLAGS = {
    "mode": "--mode",
    "rows": "--rows",
    "batch_size": "--batch-size",
    "languages": "--languages",
    "seed": "--seed",
    "budget_usd": "--budget",
    "cache": "--no-cache",
    "data_dir": "--data-dir",
}
DAGSTER_HOME_DIR = "dagster_home"
# The instance settings (run queue, concurrency pools) every new instance starts from.
INSTANCE_TEMPLATE = PROJECT_ROOT / "dagster.yaml"


class _Parser(argparse.ArgumentParser):
    """argparse whose errors end the output with an `error:` line, like the CLI's others."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(BAD_INPUT, f"error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m ticket_assets",
        description="Generate synthetic multilingual support tickets as Dagster assets.",
    )
    parser.add_argument(
        "command",
        choices=COMMANDS,
        help="run: all nodes + export (default); export: rewrite the export files; "
        "estimate: calls, tokens and cost of the configured run, before spending; "
        "cache: `cache clear` or `cache stats` of the LLM response cache; ui: dagster dev",
    )
    parser.add_argument("action", nargs="?", choices=["clear", "stats"], help="for `cache`")
    parser.add_argument("--config", type=Path, help="config file (default ticket_assets.yaml)")
    parser.add_argument("--mode", choices=MODES, help="config profile (default dev)")
    parser.add_argument("--rows", type=int, help="total tickets")
    parser.add_argument("--batch-size", type=int, help="tickets per partition")
    parser.add_argument("--languages", help="comma-separated codes, any case, e.g. de,en")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--data-dir", type=Path, help="where DuckDB, exports and the instance go")
    parser.add_argument("--model", help="provider/name for every node, e.g. openai/gpt-4o-mini")
    parser.add_argument("--api-base", help="base URL of an OpenAI-compatible server")
    parser.add_argument("--budget", type=float, help="stop before the run spends more (USD)")
    parser.add_argument("--no-cache", action="store_true", help="ignore the LLM response cache")
    parser.add_argument(
        "--select",
        help="run: only these assets, comma-separated (e.g. translate); upstream assets are "
        "read, not recomputed",
    )
    parser.add_argument(
        "--record-runs",
        action="store_true",
        help="record the run in the Dagster instance the UI uses (slower on many partitions)",
    )
    parser.add_argument("--port", type=int, default=None, help="ui: port (default $PORT or 3000)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="run/export: exit 1 when a quality check fails (the export is written anyway)",
    )
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "rows": args.rows,
        "batch_size": args.batch_size,
        "languages": args.languages,
        "seed": args.seed,
        "budget_usd": args.budget,
        "cache": False if args.no_cache else None,
        "data_dir": str(args.data_dir.resolve()) if args.data_dir else None,
    }


def config_from_args(args: argparse.Namespace) -> RunConfig:
    config = load_config(
        args.config, mode=args.mode, overrides=_overrides(args), flags=OVERRIDE_FLAGS
    )
    if args.model or args.api_base:
        config = config.with_model(model=args.model, api_base=args.api_base)
    # Imported here (pandas, Dagster): not for --help. A pipeline that cannot run, or a
    # refresh.cron Dagster cannot schedule, fails now with its one line.
    from ticket_assets.nodes import build_pipeline
    from ticket_assets.orchestration.schedules import check_refresh

    build_pipeline(config)
    check_refresh(config)
    return config


def prepare_instance_home(config: RunConfig) -> Path:
    """$DAGSTER_HOME if set, else a project-local instance under the data directory."""
    home = Path(os.environ.get("DAGSTER_HOME") or config.data_path / DAGSTER_HOME_DIR)
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        shutil.copyfile(INSTANCE_TEMPLATE, settings)
    elif "concurrency:" not in settings.read_text(encoding="utf-8"):
        print(
            f"note: {settings} sets no concurrency limits, so concurrent runs are not limited "
            f"per LLM provider; see {INSTANCE_TEMPLATE}",
            file=sys.stderr,
        )
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


def main(argv: Sequence[str] | None = None) -> int:
    """Every failure ends the output with one `error:` line; stack traces go to a log file
    under the data directory, which the output names."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(_with_default_command(arguments, parser))
    if (args.command == "cache") != (args.action is not None):
        return _fail("use `cache clear` or `cache stats`", BAD_INPUT)
    log_path = new_log_path(_data_path_without_config(args), args.command)
    try:
        # The data directory first: its run lock is taken before the config's slow checks.
        data_path = configured_data_path(args.config, mode=args.mode, overrides=_overrides(args))
        log_path = new_log_path(data_path, args.command)
        with _data_dir_lock(args.command, data_path, arguments):
            return _dispatch(args, _checked_config(args), log_path)
    except KeyboardInterrupt:
        return _fail("interrupted", INTERRUPTED)
    except Exception as error:
        return _report(error, log_path)


def _with_default_command(arguments: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """`python -m ticket_assets --rows 5` means `run --rows 5`; a first word that is neither a
    flag nor a command is an unknown command (a typo), not an argument of `run`."""
    if not arguments:
        return ["run"]
    first = arguments[0]
    if first in COMMANDS or first in HELP_FLAGS:
        return arguments
    if first.startswith("-"):
        return ["run", *arguments]
    close = difflib.get_close_matches(first, COMMANDS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    parser.error(f"unknown command {first!r}; valid commands: {', '.join(COMMANDS)}{hint}")


def _checked_config(args: argparse.Namespace) -> RunConfig:
    config = config_from_args(args)
    if args.command in ("run", "export"):
        # Before any node, with the data directory locked (so no other run is writing its
        # DuckDB file): a bad input stops here, and nothing but the lock file is written.
        from ticket_assets.preflight import preflight  # imports pandas: not for --help

        preflight(config, nodes=args.command == "run")
    return config


def _data_path_without_config(args: argparse.Namespace) -> Path:
    """Where logs go when the config cannot be read: --data-dir, else the default."""
    return args.data_dir.resolve() if args.data_dir else PROJECT_ROOT / DEFAULT_DATA_DIR


def _data_dir_lock(
    command: str, data_path: Path, arguments: list[str]
) -> AbstractContextManager[None]:
    """Runs and exports hold the data directory, so a second one stops at once."""
    if command not in LOCKED_COMMANDS:
        return nullcontext()
    return hold_data_dir(data_path, shlex.join(["python", "-m", "ticket_assets", *arguments]))


def _dispatch(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    if args.record_runs or args.command == "ui":
        prepare_instance_home(config)
    # Imported here: Dagster's import costs a second, and config errors should not wait for it.
    from ticket_assets import cli

    if args.command == "ui":
        return cli.run_ui(config, args)
    if args.command == "export":
        return cli.run_export(
            config, record=args.record_runs, strict=args.strict, log_path=log_path
        )
    if args.command == "estimate":
        return cli.run_estimate(config)
    if args.command == "cache":
        return cli.run_cache(config, args.action)
    return cli.run_pipeline(
        config,
        record=args.record_runs,
        selection=cli.asset_selection(config, args.select),
        strict=args.strict,
        log_path=log_path,
    )


def _report(error: Exception, log_path: Path) -> int:
    """One `error:` line and the exit code: 2 for bad input, 1 for anything else, whose
    stack trace goes to the log file (a bug, or a failure nobody foresaw)."""
    if isinstance(error, ConfigError):
        return _fail(str(error), BAD_INPUT)
    if isinstance(error, DataDirBusyError):
        return _fail(str(error), RUN_FAILED)
    trace = write_exception(log_path, error)
    if trace is not None:
        print(f"full trace: {trace}", file=sys.stderr)
    first_line = next(iter(str(error).strip().splitlines()), "")
    return _fail(f"unexpected {type(error).__name__}: {first_line}", RUN_FAILED)


def _fail(message: str, code: int) -> int:
    for line in message.splitlines():
        print(f"error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

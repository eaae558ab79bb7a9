"""The checks a command needs before it runs, then its handler."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path

from ticket_assets.cli import cache, estimate, evaluate, export, lake, run, ui
from ticket_assets.cli.arguments import COMMANDS
from ticket_assets.cli.instance import prepare_instance_home, records_run
from ticket_assets.config import RunConfig
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.schedules import check_refresh
from ticket_assets.preflight import preflight

Handler = Callable[[argparse.Namespace, RunConfig, Path], int]

# Each command of cli/arguments.py COMMANDS, and what runs it.
HANDLERS: Mapping[str, Handler] = {
    "run": run.handle,
    "export": export.handle,
    "estimate": estimate.handle,
    "cache": cache.handle,
    "lake": lake.handle,
    "ui": ui.handle,
    "evaluate": evaluate.handle,
}


def dispatch(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    # A pipeline that cannot run, or a refresh.cron Dagster cannot schedule, fails now with
    # its one line.
    build_pipeline(config)
    check_refresh(config)
    if COMMANDS[args.command].writes_data_dir:
        # Before any node, with the data directory locked (so no other run is writing its
        # DuckDB file): a bad input stops here, and nothing but the lock file is written.
        preflight(config, nodes=args.command == "run")
    if records_run(args) or args.command == "ui":
        prepare_instance_home(config)
    return HANDLERS[args.command](args, config, log_path)

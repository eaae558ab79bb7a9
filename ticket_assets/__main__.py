"""Command line: `python -m ticket_assets [run|export|ui] [flags]`.

`run` (the default) materializes every node for every configured partition, then the
export, in one in-process Dagster run, and prints a summary. The run uses an in-memory
Dagster instance unless `--record-runs` asks for the persistent one `make ui` opens:
Dagster writes one SQLite event per partition and asset there, which costs more than the
generation itself on large runs (see bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ticket_assets.config import MODES, ConfigError, RunConfig, load_config

DAGSTER_HOME_DIR = "dagster_home"
INSTANCE_YAML = """\
# Written by ticket_assets for its project-local Dagster instance.
telemetry:
  enabled: false
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ticket_assets",
        description="Generate synthetic multilingual support tickets as Dagster assets.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["run", "export", "ui"],
        help="run: all nodes + export (default); export: rewrite the export files; ui: dagster dev",
    )
    parser.add_argument("--config", type=Path, help="config file (default ticket_assets.yaml)")
    parser.add_argument("--mode", choices=MODES, help="config profile (default dev)")
    parser.add_argument("--rows", type=int, help="total tickets")
    parser.add_argument("--batch-size", type=int, help="tickets per partition")
    parser.add_argument("--languages", help="comma-separated codes, any case, e.g. de,en")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--data-dir", type=Path, help="where DuckDB, exports and the instance go")
    parser.add_argument("--model", help="provider/name for every node, e.g. openai/gpt-4o-mini")
    parser.add_argument("--api-base", help="base URL of an OpenAI-compatible server")
    parser.add_argument(
        "--record-runs",
        action="store_true",
        help="record the run in the Dagster instance the UI uses (slower on many partitions)",
    )
    parser.add_argument("--port", type=int, default=None, help="ui: port (default $PORT or 3000)")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    overrides = {
        "rows": args.rows,
        "batch_size": args.batch_size,
        "languages": args.languages,
        "seed": args.seed,
        "data_dir": str(args.data_dir.resolve()) if args.data_dir else None,
    }
    config = load_config(args.config, mode=args.mode, overrides=overrides)
    if args.model or args.api_base:
        config = config.with_model(model=args.model, api_base=args.api_base)
    return config


def prepare_instance_home(config: RunConfig) -> Path:
    """$DAGSTER_HOME if set, else a project-local instance under the data directory."""
    home = Path(os.environ.get("DAGSTER_HOME") or config.data_path / DAGSTER_HOME_DIR)
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(INSTANCE_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.record_runs or args.command == "ui":
        prepare_instance_home(config)
    # Imported here: Dagster's import costs a second, and config errors should not wait for it.
    from ticket_assets.cli import run_export, run_pipeline, run_ui

    if args.command == "ui":
        return run_ui(config, args)
    if args.command == "export":
        return run_export(config, record=args.record_runs)
    return run_pipeline(config, record=args.record_runs)


if __name__ == "__main__":
    sys.exit(main())

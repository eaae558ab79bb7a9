"""Command line: `python -m ticket_assets [run|export|estimate|cache|ui] [flags]`.

`run` (the default) materializes every node for every configured partition, then the
export, in one in-process Dagster run, and prints a summary. The run uses an in-memory
Dagster instance unless `--record-runs` asks for the persistent one `make ui` opens:
Dagster writes one SQLite event per partition and asset there, which costs more than the
generation itself on large runs (see bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ticket_assets.config import MODES, PROJECT_ROOT, ConfigError, RunConfig, load_config

COMMANDS = ("run", "export", "estimate", "cache", "ui")
DAGSTER_HOME_DIR = "dagster_home"
# The instance settings (run queue, concurrency pools) every new instance starts from.
INSTANCE_TEMPLATE = PROJECT_ROOT / "dagster.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def config_from_args(args: argparse.Namespace) -> RunConfig:
    overrides = {
        "rows": args.rows,
        "batch_size": args.batch_size,
        "languages": args.languages,
        "seed": args.seed,
        "budget_usd": args.budget,
        "cache": False if args.no_cache else None,
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
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or (arguments[0] not in COMMANDS and arguments[0] not in ("-h", "--help")):
        arguments.insert(0, "run")
    args = _parser().parse_args(arguments)
    if (args.command == "cache") != (args.action is not None):
        print("error: use `cache clear` or `cache stats`", file=sys.stderr)
        return 2
    try:
        config = config_from_args(args)
        if args.command in ("run", "export") and config.remote_nodes:
            from ticket_assets.llm.remote import check_credentials

            check_credentials(config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.record_runs or args.command == "ui":
        prepare_instance_home(config)
    # Imported here: Dagster's import costs a second, and config errors should not wait for it.
    from ticket_assets import cli

    if args.command == "ui":
        return cli.run_ui(config, args)
    if args.command == "export":
        return cli.run_export(config, record=args.record_runs, strict=args.strict)
    if args.command == "estimate":
        return cli.run_estimate(config)
    if args.command == "cache":
        return cli.run_cache(config, args.action)
    try:
        selection = cli.asset_selection(config, args.select)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return cli.run_pipeline(
        config, record=args.record_runs, selection=selection, strict=args.strict
    )


if __name__ == "__main__":
    sys.exit(main())

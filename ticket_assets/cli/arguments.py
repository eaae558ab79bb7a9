"""The command line's parser: one subcommand per command (COMMANDS, the one list of them),
each with the flag groups it uses, and the config they describe."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ticket_assets.cli.errors import BAD_INPUT
from ticket_assets.config import (
    DEFAULT_DATA_DIR,
    EVALUATE_COLUMNS,
    EVALUATE_LABELS,
    MODES,
    LanguageSelection,
    RunConfig,
    find_config,
    load_config,
    project_root,
)

# How the user called us, for usage lines and the run lock's note: the installed script
# (`ticket-assets`, from the wheel) or the module.
PROG = "ticket-assets" if Path(sys.argv[0]).name == "ticket-assets" else "python -m ticket_assets"
HELP_FLAGS = ("-h", "--help")
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

FlagGroup = Callable[[argparse.ArgumentParser], None]

# Which Dagster instance the commands that open one (run, export, ui) use: SQLite files under
# the data directory (the default) or PostgreSQL (deploy/dagster.postgres.yaml); cli/instance.py.
INSTANCE_ENV_VAR = "TICKET_ASSETS_INSTANCE"
INSTANCE_KINDS = ("sqlite", "postgres")


def _config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        help="config file (default: ticket_assets.yaml in this folder, else the built-in one)",
    )
    parser.add_argument("--mode", choices=MODES, help="config profile (default dev)")
    parser.add_argument("--data-dir", type=Path, help="where DuckDB, exports and the instance go")


def _plan_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, help="total tickets")
    parser.add_argument("--batch-size", type=int, help="tickets per partition")
    parser.add_argument(
        "--languages",
        help="comma-separated codes, any case, e.g. de,en; they keep their configured weights",
    )
    parser.add_argument("--seed", type=int, help="random seed")


def _model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="provider/name for every node, e.g. openai/gpt-4o-mini")
    parser.add_argument("--api-base", help="base URL of an OpenAI-compatible server")
    parser.add_argument("--budget", type=float, help="stop before the run spends more (USD)")


def _run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-cache", action="store_true", help="ignore the LLM response cache")
    parser.add_argument(
        "--select",
        help="only these assets, comma-separated (e.g. translate); upstream assets are read, "
        "not recomputed",
    )


def _recorded_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="run on an in-memory Dagster instance: the data lands in DuckDB and the exports, "
        "but the UI's history does not show the run",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a quality check fails (run: or a ticket was quarantined); the export "
        "is written anyway",
    )


def _instance_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--instance",
        choices=INSTANCE_KINDS,
        help=f"the Dagster instance runs are recorded in: sqlite (files under the data "
        f"directory) or postgres (deploy/dagster.postgres.yaml, connection from DAGSTER_PG_*); "
        f"default ${INSTANCE_ENV_VAR}, else sqlite",
    )


def _cache_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["clear", "stats"], help="what to do with the cache")
    parser.add_argument(
        "--shared",
        action="store_true",
        help="clear: the team's shared cache in the lake's Postgres too (every machine's paid"
        " answers)",
    )


def _lake_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["maintain"], help="what to do with the lake")
    parser.add_argument(
        "--keep-days",
        type=float,
        default=7.0,
        help="keep snapshots (time travel) and replaced files this many days (default 7)",
    )


def _ui_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="port (default $PORT or 3000)")


def _init_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="the project folder to write")
    parser.add_argument(
        "--force",
        action="store_true",
        help="in an existing project: add missing defaults and update those you have not "
        "changed; the files you changed are kept and listed",
    )


def _column_pair(value: str) -> tuple[str, str]:
    ours, equals, theirs = (part.strip() for part in value.partition("="))
    if not equals or not ours or not theirs:
        raise argparse.ArgumentTypeError(f"expected OURS=YOURS, e.g. body=text; got {value!r}")
    if ours not in EVALUATE_COLUMNS:
        raise argparse.ArgumentTypeError(
            f"{ours!r} is not a column of the tickets; allowed: {', '.join(EVALUATE_COLUMNS)}"
        )
    return ours, theirs


def _label_list(value: str) -> tuple[str, ...]:
    labels = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    for label in labels or ("",):
        if label not in EVALUATE_LABELS:
            raise argparse.ArgumentTypeError(
                f"{label!r} is not a label; allowed: {', '.join(EVALUATE_LABELS)}"
            )
    return labels


def _evaluate_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--real",
        type=Path,
        required=True,
        metavar="PATH",
        help="your labelled tickets: .csv (UTF-8; , or ; separated), .parquet or .pq; read "
        "only, nothing of it is written anywhere",
    )
    parser.add_argument(
        "--synthetic",
        type=Path,
        metavar="PATH",
        help="the synthetic tickets (default: the export, <data dir>/exports/tickets.parquet)",
    )
    parser.add_argument(
        "--column",
        action="append",
        type=_column_pair,
        metavar="OURS=YOURS",
        help=f"which column of your file holds ours, where the names differ; repeatable, e.g. "
        f"--column body=text --column type=ticket_type (ours: {', '.join(EVALUATE_COLUMNS)}; "
        f"config: evaluate.columns)",
    )
    parser.add_argument(
        "--labels",
        type=_label_list,
        help="comma-separated, of type, priority, queue (default: those in both files; "
        "config: evaluate.labels)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where evaluation.json and evaluation.png go (default <data dir>/evaluation)",
    )
    parser.add_argument(
        "--seed", type=int, help="seed of the splits and samples (default: the config's seed)"
    )


@dataclass(frozen=True)
class Command:
    """A subcommand: its help, its flags, and whether it writes the data directory (then it
    holds the directory's lock, core/run_lock.py, and checks its inputs first, preflight/)."""

    help: str
    flags: tuple[FlagGroup, ...]
    writes_data_dir: bool = False
    description: str | None = None  # --help's text, when longer than `help`


# The commands, `run` first (the default): adding one is an entry here and its handler in
# cli/dispatch.py.
COMMANDS: Mapping[str, Command] = {
    "run": Command(
        "generate: every node for every configured partition, then the export (default)",
        (
            _config_flags,
            _plan_flags,
            _model_flags,
            _run_flags,
            _recorded_run_flags,
            _instance_flags,
        ),
        writes_data_dir=True,
    ),
    "export": Command(
        "rewrite the export files, card and quality report from DuckDB",
        (_config_flags, _plan_flags, _recorded_run_flags, _instance_flags),
        writes_data_dir=True,
    ),
    "estimate": Command(
        "calls, tokens and cost of the configured run, before spending anything",
        (_config_flags, _plan_flags, _model_flags),
    ),
    "cache": Command(
        "`cache clear` or `cache stats` of the LLM response cache", (_config_flags, _cache_flags)
    ),
    "lake": Command(
        "`lake maintain`: delete the DuckLake files that rewrites replaced, merge small ones",
        (_config_flags, _lake_flags),
    ),
    "ui": Command(
        "the Dagster UI (webserver and daemon) on the project's instance",
        (_config_flags, _ui_flags, _instance_flags),
    ),
    "evaluate": Command(
        "does the synthetic data help your classifier? macro-F1 on your labelled tickets",
        (_config_flags, _evaluate_flags),
        description="Does the synthetic data help your classifier? Your labelled tickets "
        "(--real) are split in half, per language; a classifier (character n-gram TF-IDF, "
        "logistic regression) trained on synthetic tickets, as many as your half A and of "
        "the same language, one trained on all synthetic tickets, and one trained on your "
        "half A are tested on your half B. Prints their macro-F1 per label and language, "
        "and the ratios synthetic/yours; writes the figures to evaluation.json and "
        "evaluation.png (--out). Your file is only read: nothing of it is written anywhere.",
    ),
    # Reads no config and writes no data directory: it makes the folder that will have them.
    "init": Command(
        "write a new project folder: config, prompts, tables, workspace, .gitignore, README",
        (_init_flags,),
        description="Write a new project into DIR (created if missing): ticket_assets.yaml, "
        "prompts/, tables/ and workspace.yaml with the defaults, a .gitignore for data/ and a "
        "README, so that `cd DIR && ticket-assets run` and `ticket-assets ui` work. Refuses a "
        "folder that already holds a project; --force updates it.",
    ),
}


class _Parser(argparse.ArgumentParser):
    """argparse whose errors end the output with an `error:` line, like the CLI's others."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(BAD_INPUT, f"error: {message}\n")


def parser() -> argparse.ArgumentParser:
    root = _Parser(
        prog=PROG,
        description="Generate synthetic multilingual support tickets as Dagster assets. "
        "Without a command: `run`.",
    )
    commands = root.add_subparsers(dest="command", metavar="command", required=True)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(
            name, help=command.help, description=command.description or command.help
        )
        for add_flags in command.flags:
            add_flags(sub)
    return root


def parse(arguments: list[str]) -> argparse.Namespace:
    root = parser()
    return root.parse_args(_with_default_command(arguments, root))


def _with_default_command(arguments: list[str], root: argparse.ArgumentParser) -> list[str]:
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
    root.error(f"unknown command {first!r}; valid commands: {', '.join(COMMANDS)}{hint}")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config values the command's flags set (None: not given)."""
    data_dir = getattr(args, "data_dir", None)
    languages = getattr(args, "languages", None)
    return {
        "rows": getattr(args, "rows", None),
        "batch_size": getattr(args, "batch_size", None),
        "languages": None if languages is None else LanguageSelection(languages),
        "seed": getattr(args, "seed", None),
        "budget_usd": getattr(args, "budget", None),
        "cache": False if getattr(args, "no_cache", False) else None,
        "data_dir": str(data_dir.resolve()) if data_dir else None,
    }


def load_args_config(args: argparse.Namespace) -> RunConfig:
    """The config file with the flags applied (checked as data; the pipeline is checked when
    the command runs, see dispatch.py)."""
    config = load_config(
        args.config, mode=args.mode, overrides=overrides(args), flags=OVERRIDE_FLAGS
    )
    model, api_base = getattr(args, "model", None), getattr(args, "api_base", None)
    if model or api_base:
        config = config.with_model(model=model, api_base=api_base)
    _apply_instance_flag(args)
    return config


def _apply_instance_flag(args: argparse.Namespace) -> None:
    """--instance sets $TICKET_ASSETS_INSTANCE for this process: the instance directory is
    prepared from it before the command's handler sees the flags (cli/dispatch.py), and the
    UI's webserver and daemon, started from here, inherit it."""
    instance = getattr(args, "instance", None)
    if instance:
        os.environ[INSTANCE_ENV_VAR] = instance


def data_path_without_config(args: argparse.Namespace) -> Path:
    """Where logs go when the config cannot be read: --data-dir, else the default."""
    if args.data_dir:
        return args.data_dir.resolve()
    config_path = find_config(getattr(args, "config", None))
    return project_root(config_path) / DEFAULT_DATA_DIR

"""The Dagster instance the UI opens: `$DAGSTER_HOME`, else `<data_dir>/dagster_home`."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

import dagster as dg

from ticket_assets.cli.arguments import COMMANDS
from ticket_assets.config import PROJECT_ROOT, RunConfig
from ticket_assets.core.processes import is_alive

DAGSTER_HOME_DIR = "dagster_home"
# The instance settings (run queue, concurrency pools, storage) every new instance starts from;
# its storage directory, `$DAGSTER_HOME` there, is written out in the copy.
INSTANCE_TEMPLATE = PROJECT_ROOT / "dagster.yaml"
HOME_FROM_ENV = "{env: DAGSTER_HOME}"
# Tags naming the CLI process that runs a recorded run in-process.
CLI_HOST_TAG, CLI_PID_TAG = "ticket_assets/cli_host", "ticket_assets/cli_pid"


def prepare_instance_home(config: RunConfig) -> Path:
    """$DAGSTER_HOME if set, else a project-local instance under the data directory."""
    home = Path(os.environ.get("DAGSTER_HOME") or config.data_path / DAGSTER_HOME_DIR)
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        # The copy names its own directory, so it loads without $DAGSTER_HOME too.
        template = INSTANCE_TEMPLATE.read_text(encoding="utf-8")
        settings.write_text(
            template.replace(HOME_FROM_ENV, json.dumps(str(home.resolve()))), encoding="utf-8"
        )
    else:
        _note_missing_settings(settings)
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


def _note_missing_settings(settings: Path) -> None:
    text = settings.read_text(encoding="utf-8")
    if "concurrency:" not in text:
        print(
            f"note: {settings} sets no concurrency limits, so concurrent runs are not limited "
            f"per LLM provider; see {INSTANCE_TEMPLATE}",
            file=sys.stderr,
        )
    if "BatchingSqliteStorage" not in text:
        print(
            f"note: {settings} records runs with Dagster's default storage, which writes each "
            f"partition's events one by one (slow on many partitions); see the storage block "
            f"of {INSTANCE_TEMPLATE}",
            file=sys.stderr,
        )


def records_run(args: argparse.Namespace) -> bool:
    """Runs and exports are recorded in the UI's instance unless --no-record says otherwise."""
    return COMMANDS[args.command].writes_data_dir and not args.no_record


def open_instance(args: argparse.Namespace) -> dg.DagsterInstance:
    """The UI's persistent instance, or an in-memory one for this run (--no-record)."""
    if not records_run(args):
        return dg.DagsterInstance.ephemeral()
    instance = dg.DagsterInstance.get()
    fail_orphaned_runs(instance)
    return instance


def cli_run_tags() -> dict[str, str]:
    """Tags naming this process, so a run it leaves behind (kill -9) can be told apart."""
    return {CLI_HOST_TAG: socket.gethostname(), CLI_PID_TAG: str(os.getpid())}


def fail_orphaned_runs(instance: dg.DagsterInstance) -> None:
    """Mark failed the recorded runs of CLI processes of this machine that are gone (kill -9,
    OOM), and free the pool slots they held: nobody else would, and every later step of their
    pools would wait for those slots forever."""
    started = instance.get_runs(
        dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED], tags={CLI_HOST_TAG: socket.gethostname()}
        )
    )
    for run in started:
        if is_alive(int(run.tags.get(CLI_PID_TAG, "0"))):
            continue
        instance.report_run_failed(run, "its CLI process ended without finishing the run")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        print(
            f"note: run {run.run_id} of a CLI process that is gone marked failed", file=sys.stderr
        )

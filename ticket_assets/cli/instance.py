"""The Dagster instance the UI opens: `$DAGSTER_HOME`, else `<data_dir>/dagster_home`."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import dagster as dg

from ticket_assets.config import PROJECT_ROOT, RunConfig

DAGSTER_HOME_DIR = "dagster_home"
# The instance settings (run queue, concurrency pools) every new instance starts from.
INSTANCE_TEMPLATE = PROJECT_ROOT / "dagster.yaml"


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


def open_instance(record: bool) -> dg.DagsterInstance:
    """The UI's persistent instance when recording, else an in-memory one for this run."""
    return dg.DagsterInstance.get() if record else dg.DagsterInstance.ephemeral()

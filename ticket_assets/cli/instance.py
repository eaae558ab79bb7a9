"""The Dagster instance the UI opens and CLI runs are recorded in: SQLite files (default) or
PostgreSQL (`--instance postgres`, TICKET_ASSETS_INSTANCE=postgres).

Its directory is `$DAGSTER_HOME`, else `<data_dir>/dagster_home` for SQLite and
`<data_dir>/dagster_home_postgres` for Postgres (there it holds only dagster.yaml, local
artifacts and compute logs). A directory set up for one kind is never used as the other: the
two defaults differ, and an explicit `$DAGSTER_HOME` of the other kind stops with one line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from ticket_assets.cli.arguments import COMMANDS, INSTANCE_ENV_VAR, INSTANCE_KINDS
from ticket_assets.config import DEFAULTS_DIR, ConfigError, RunConfig
from ticket_assets.core.processes import is_alive
from ticket_assets.orchestration.event_log import EVENT_BATCH_SIZE

SQLITE, POSTGRES = INSTANCE_KINDS
HOME_DIRS = {SQLITE: "dagster_home", POSTGRES: "dagster_home_postgres"}
DAGSTER_HOME_DIR = HOME_DIRS[SQLITE]
# The instance settings (run queue, concurrency pools, storage) every new instance starts from;
# the SQLite one's storage directory, `$DAGSTER_HOME` there, is written out in the copy.
INSTANCE_TEMPLATE = DEFAULTS_DIR / "dagster.yaml"
POSTGRES_TEMPLATE = DEFAULTS_DIR / "deploy" / "dagster.postgres.yaml"
TEMPLATES = {SQLITE: INSTANCE_TEMPLATE, POSTGRES: POSTGRES_TEMPLATE}
HOME_FROM_ENV = "{env: DAGSTER_HOME}"
# Tags naming the CLI process that runs a recorded run in-process.
CLI_HOST_TAG, CLI_PID_TAG = "ticket_assets/cli_host", "ticket_assets/cli_pid"
# A server that does not answer within this stops the command, instead of Dagster's retries.
PG_CONNECT_TIMEOUT_S = 5
# What SQLite storage leaves in an instance directory (Dagster's default and ours).
SQLITE_RUNS_DB = Path("history") / "runs.db"
# Dagster's Postgres event log writes a batch of materializations in one statement, but only
# when batching is on; our SQLite storage turns it on itself (orchestration/event_log.py).
EVENT_BATCH_VAR = "DAGSTER_EVENT_BATCH_SIZE"
PSYCOPG2_SCHEME = "postgresql+psycopg2"


def instance_kind() -> str:
    """sqlite or postgres, from $TICKET_ASSETS_INSTANCE (which --instance sets)."""
    kind = os.environ.get(INSTANCE_ENV_VAR, "").strip().lower() or SQLITE
    if kind not in INSTANCE_KINDS:
        raise ConfigError(
            f"{INSTANCE_ENV_VAR}: {kind!r} is not a Dagster instance; allowed: "
            f"{', '.join(INSTANCE_KINDS)}"
        )
    return kind


def prepare_instance_home(config: RunConfig, kind: str | None = None) -> Path:
    """$DAGSTER_HOME if set, else a project-local instance under the data directory, set up
    for `kind` (default: instance_kind()); a Postgres one is checked to answer first."""
    kind = kind or instance_kind()
    from_env = os.environ.get("DAGSTER_HOME")
    home = Path(from_env or config.data_path / HOME_DIRS[kind])
    settings = home / "dagster.yaml"
    if settings.exists():
        _check_kind(settings, kind, from_env)
        _note_missing_settings(settings, kind)
    else:
        if kind == POSTGRES and (home / SQLITE_RUNS_DB).exists():
            raise ConfigError(_holds_other_kind(home, SQLITE, from_env))
        home.mkdir(parents=True, exist_ok=True)
        # The copy names its own directory, so it loads without $DAGSTER_HOME too.
        template = TEMPLATES[kind].read_text(encoding="utf-8")
        settings.write_text(
            template.replace(HOME_FROM_ENV, json.dumps(str(home.resolve()))), encoding="utf-8"
        )
    if kind == POSTGRES:
        check_postgres(settings)
        os.environ.setdefault(EVENT_BATCH_VAR, EVENT_BATCH_SIZE)
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return home


def settings_kind(settings: Path) -> str:
    """postgres when the instance's storage is Postgres, else sqlite."""
    return POSTGRES if _postgres_db(_load(settings)) is not None else SQLITE


def _check_kind(settings: Path, kind: str, from_env: str | None) -> None:
    found = settings_kind(settings)
    if found != kind:
        raise ConfigError(_holds_other_kind(settings.parent, found, from_env))


def _holds_other_kind(home: Path, found: str, from_env: str | None) -> str:
    where = f"DAGSTER_HOME={from_env}" if from_env else str(home)
    if found == SQLITE:
        fix = (
            f"unset DAGSTER_HOME (then <data_dir>/{HOME_DIRS[POSTGRES]} is used) or point it "
            f"at another directory"
            if from_env
            else "point DAGSTER_HOME at another directory"
        )
        return (
            f"{where} holds a SQLite Dagster instance; the Postgres one needs a directory of "
            f"its own: {fix}"
        )
    return (
        f"{where} holds a Postgres Dagster instance; use it with --instance postgres (or "
        f"{INSTANCE_ENV_VAR}=postgres), or point DAGSTER_HOME at another directory"
    )


def _load(settings: Path) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(settings.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        reason = " ".join(str(error).split())
        raise ConfigError(f"{settings}: cannot read it ({reason})") from None
    return data if isinstance(data, dict) else {}


def _postgres_db(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `postgres_db` block of a Postgres instance's storage (the `storage: postgres:`
    form, or the per-storage form Dagster's Helm chart writes), None for other storage."""
    storage = data.get("storage")
    if isinstance(storage, dict) and isinstance(storage.get("postgres"), dict):
        return storage["postgres"].get("postgres_db") or {}
    run_storage = data.get("run_storage")
    if isinstance(run_storage, dict) and str(run_storage.get("module", "")).startswith(
        "dagster_postgres"
    ):
        return (run_storage.get("config") or {}).get("postgres_db") or {}
    return None


def check_postgres(settings: Path) -> None:
    """One line per unset variable the instance's connection reads, or one line naming the
    server (never the password) when it does not accept a connection."""
    db = _postgres_db(_load(settings)) or {}
    values: dict[str, Any] = {}
    variables: dict[str, str] = {}
    missing: list[str] = []
    for key in ("hostname", "port", "username", "password", "db_name"):
        value = db.get(key)
        if isinstance(value, dict) and "env" in value:
            variables[key] = value["env"]
            if value["env"] not in os.environ:
                missing.append(
                    f"{value['env']} is not set; the Postgres Dagster instance ({settings}) "
                    f"reads its {key} from it (see deploy/.env.example)"
                )
                continue
            value = os.environ[value["env"]]
        values[key] = value
    if missing:
        raise ConfigError("\n".join(missing))
    if not db:
        return  # postgres_url, or a form we do not know: Dagster will say what is wrong
    if db.get("scheme", "postgresql") == "postgresql":
        # SQLAlchemy 2.x's default driver for it is psycopg 3, which is not installed: every
        # Dagster process would fail on the import.
        raise ConfigError(
            f"{settings}: postgres_db needs `scheme: {PSYCOPG2_SCHEME}` (dagster-postgres "
            f"installs psycopg2; the default scheme makes Dagster import psycopg 3)"
        )
    _connect(values, variables, db.get("params") or {})


def _connect(values: Mapping[str, Any], variables: Mapping[str, str], params: Any) -> None:
    import psycopg2  # dagster-postgres's driver; only a Postgres instance needs it

    host, port = values.get("hostname"), values.get("port") or 5432
    where = f"{host}:{port}"
    named = [variables[key] for key in ("hostname", "port") if key in variables]
    source = f" ({', '.join(named)})" if named else ""
    try:
        port = int(port)
    except (TypeError, ValueError):
        name = variables.get("port", "port")
        raise ConfigError(f"{name}: {port!r} is not a port number") from None
    password = str(values.get("password") or "")
    try:
        psycopg2.connect(
            host=host,
            port=port,
            user=values.get("username"),
            password=password or None,
            dbname=values.get("db_name"),
            connect_timeout=PG_CONNECT_TIMEOUT_S,
            **(params if isinstance(params, dict) else {}),
        ).close()
    except psycopg2.Error as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        if password:
            reason = reason.replace(password, "***")
        raise ConfigError(
            f"cannot connect to the Postgres Dagster instance at {where}{source}, database "
            f"{values.get('db_name')!r}, user {values.get('username')!r}: {reason}"
        ) from None


def _note_missing_settings(settings: Path, kind: str = SQLITE) -> None:
    text = settings.read_text(encoding="utf-8")
    if "concurrency:" not in text:
        print(
            f"note: {settings} sets no concurrency limits, so concurrent runs are not limited "
            f"per LLM provider; see {TEMPLATES[kind]}",
            file=sys.stderr,
        )
    # Postgres needs no such storage: it writes a batch of materializations in one statement
    # (prepare_instance_home turns batching on) and its planned events cost a round trip each.
    if kind == SQLITE and "BatchingSqliteStorage" not in text:
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

"""The Postgres Dagster instance (`--instance postgres`, deploy/dagster.postgres.yaml) on a
private PostgreSQL server: it loads with the project's queue and pools, a CLI run lands in its
tables, and a missing variable, an unreachable server or a directory of the other kind stops
with one line that never shows the password."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from dagster_postgres import PostgresEventLogStorage

from ticket_assets.__main__ import main
from ticket_assets.cli.arguments import INSTANCE_ENV_VAR
from ticket_assets.cli.instance import (
    HOME_DIRS,
    POSTGRES,
    SQLITE,
    prepare_instance_home,
    settings_kind,
)
from ticket_assets.config import ConfigError, RunConfig, build_config
from ticket_assets_tests.services import PostgresServer

# A password nobody uses: no output may show it. The test server trusts loopback clients, so
# the connections succeed whatever the password.
CANARY_PASSWORD = "pg-canary-5e0b7c2d91"
ROOT = Path(__file__).resolve().parent.parent
PG_VARIABLES = ("HOST", "PORT", "USERNAME", "PASSWORD", "DB")


def _pg_environment(server: PostgresServer, database: str) -> dict[str, str]:
    return {
        "DAGSTER_PG_HOST": server.host,
        "DAGSTER_PG_PORT": str(server.port),
        "DAGSTER_PG_USERNAME": server.user,
        "DAGSTER_PG_PASSWORD": CANARY_PASSWORD,
        "DAGSTER_PG_DB": database,
    }


@pytest.fixture
def database(postgres_server: PostgresServer) -> str:
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    return name


@pytest.fixture
def pg_env(
    postgres_server: PostgresServer, database: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """DAGSTER_PG_* for a fresh database; no DAGSTER_HOME, so the default directory is used.
    Every variable the code under test sets is registered here, so it is undone afterwards."""
    environment = _pg_environment(postgres_server, database)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    # Unset, but restored afterwards: monkeypatch only undoes what it saw set.
    for name in ("DAGSTER_HOME", INSTANCE_ENV_VAR, "DAGSTER_EVENT_BATCH_SIZE"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return environment


@pytest.fixture
def config(tmp_path: Path) -> RunConfig:
    return build_config({"data_dir": str(tmp_path / "data")})


def test_the_instance_loads_from_the_deploy_file_with_the_project_queue_and_pools(
    pg_env: dict[str, str], config: RunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = prepare_instance_home(config, POSTGRES)
    assert home == config.data_path / HOME_DIRS[POSTGRES]
    assert settings_kind(home / "dagster.yaml") == POSTGRES
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        postgres_limits = instance.get_concurrency_config()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "sqlite_home"))
    sqlite_home = prepare_instance_home(config, SQLITE)
    with dg.DagsterInstance.from_config(str(sqlite_home)) as instance:
        assert postgres_limits == instance.get_concurrency_config()


def test_a_cli_run_is_recorded_in_postgres(
    pg_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process (as the other CLI tests), which saves the seconds a new process spends
    # importing; --instance reaches the instance directory through the same path.
    data_dir = tmp_path / "data"
    arguments = ["run", "--rows", "20", "--batch-size", "10", "--languages", "EN,DE"]
    code = main([*arguments, "--data-dir", str(data_dir), "--instance", "postgres"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert CANARY_PASSWORD not in out + err
    # The Postgres home holds the settings only; no SQLite instance was made on the way.
    assert (data_dir / HOME_DIRS[POSTGRES] / "dagster.yaml").exists()
    assert not (data_dir / HOME_DIRS[POSTGRES] / "history").exists()
    assert not (data_dir / HOME_DIRS[SQLITE]).exists()
    connection = psycopg2.connect(
        host=pg_env["DAGSTER_PG_HOST"],
        port=int(pg_env["DAGSTER_PG_PORT"]),
        user=pg_env["DAGSTER_PG_USERNAME"],
        dbname=pg_env["DAGSTER_PG_DB"],
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT status FROM runs")
            assert [row[0] for row in cursor.fetchall()] == ["SUCCESS"]
            cursor.execute(
                "SELECT partition FROM event_logs WHERE dagster_event_type = "
                "'ASSET_MATERIALIZATION' AND asset_key = %s",
                ('["translate"]',),
            )
            partitions = sorted(row[0] for row in cursor.fetchall())
            cursor.execute("SELECT partition FROM dynamic_partitions")
            batches = sorted(row[0] for row in cursor.fetchall())
    finally:
        connection.close()
    # Every (batch, language) partition once: the step's materializations, written as a batch.
    assert batches and partitions == [f"{b}|{lang}" for b in batches for lang in ("DE", "EN")]


def _closed_port() -> int:
    """A loopback port nobody listens on (the kernel picks a free one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _one_error_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1, err
    assert CANARY_PASSWORD not in err
    assert "Traceback" not in err
    return lines[0]


def test_a_missing_variable_is_named_in_one_line(
    pg_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("DAGSTER_PG_HOST")
    code = main(["ui", "--instance", "postgres", "--data-dir", str(tmp_path / "data")])
    line = _one_error_line(code, capsys.readouterr().err)
    assert line.startswith("error: DAGSTER_PG_HOST is not set;")


def test_an_unreachable_server_is_named_in_one_line(
    pg_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = _closed_port()
    monkeypatch.setenv("DAGSTER_PG_PORT", str(port))
    monkeypatch.setenv(INSTANCE_ENV_VAR, POSTGRES)
    code = main(["ui", "--data-dir", str(tmp_path / "data")])
    line = _one_error_line(code, capsys.readouterr().err)
    assert f"at 127.0.0.1:{port} (DAGSTER_PG_HOST, DAGSTER_PG_PORT)" in line


def test_a_home_of_the_other_kind_is_refused(
    pg_env: dict[str, str], config: RunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    prepare_instance_home(config, SQLITE)
    with pytest.raises(ConfigError, match="holds a SQLite Dagster instance"):
        prepare_instance_home(config, POSTGRES)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "other_home"))
    prepare_instance_home(config, POSTGRES)
    with pytest.raises(ConfigError, match="holds a Postgres Dagster instance; use it with"):
        prepare_instance_home(config, SQLITE)


def test_sqlite_history_without_settings_is_not_taken_over(
    pg_env: dict[str, str], config: RunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "history").mkdir(parents=True)
    (home / "history" / "runs.db").touch()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with pytest.raises(ConfigError, match="holds a SQLite Dagster instance"):
        prepare_instance_home(config, POSTGRES)
    assert not (home / "dagster.yaml").exists()


def test_an_unknown_instance_kind_is_refused(
    config: RunConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INSTANCE_ENV_VAR, "mysql")
    with pytest.raises(ConfigError, match="'mysql' is not a Dagster instance; allowed"):
        prepare_instance_home(config)


def test_a_postgres_instance_without_the_psycopg2_scheme_is_refused(
    pg_env: dict[str, str], config: RunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = (ROOT / "deploy" / "dagster.postgres.yaml").read_text(encoding="utf-8")
    (home / "dagster.yaml").write_text(settings.replace("scheme: postgresql+psycopg2", ""))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with pytest.raises(ConfigError, match=r"needs `scheme: postgresql\+psycopg2`"):
        prepare_instance_home(config, POSTGRES)

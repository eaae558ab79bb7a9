"""The test servers work end to end: scale-out tests rely on them, so they are checked alone
first, where a failure points at the service rather than at the pipeline."""

from __future__ import annotations

import uuid
from importlib import import_module
from pathlib import Path

import duckdb
import psycopg2
import pytest

from ticket_assets_tests.services import PostgresServer, S3Server, running_postgres


def _unique(prefix: str) -> str:
    """Session-scoped servers are shared by tests: each takes names no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_postgres_round_trip(postgres_server: PostgresServer) -> None:
    name = _unique("roundtrip").replace("-", "_")
    conninfo = postgres_server.create_database(name)
    assert f"dbname={name}" in conninfo
    with psycopg2.connect(conninfo) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE tickets (id int PRIMARY KEY, body text)")
        cursor.execute("INSERT INTO tickets VALUES (1, 'Drucker streikt'), (2, 'VPN down')")
        cursor.execute("SELECT body FROM tickets ORDER BY id")
        assert [row[0] for row in cursor.fetchall()] == ["Drucker streikt", "VPN down"]
        cursor.execute("SHOW max_connections")
        assert int(cursor.fetchone()[0]) >= 200  # Dagster and DuckLake open many
    connection.close()


def test_create_database_refuses_an_existing_name(postgres_server: PostgresServer) -> None:
    name = _unique("twice").replace("-", "_")
    postgres_server.create_database(name)
    with pytest.raises(ValueError, match="already exists"):
        postgres_server.create_database(name)


def test_environment_alone_reaches_the_server(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subprocesses get only the environment, with no database named in it."""
    env = postgres_server.environment()
    assert set(env) == {"PGHOST", "PGPORT", "PGUSER"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PGDATABASE", raising=False)
    connection = psycopg2.connect("")
    try:
        assert connection.info.port == postgres_server.port
    finally:
        connection.close()


def test_s3_put_get(s3_server: S3Server) -> None:
    bucket = _unique("bucket")
    s3_server.create_bucket(bucket)
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
    assert client.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read() == b"hello"
    assert set(s3_server.environment()) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
    }


def _load_packaged_extensions(connection: duckdb.DuckDBPyConnection) -> None:
    """Loads the PyPI-packaged extensions: INSTALL cannot reach DuckDB's site (DESIGN §5),
    and autoloading is switched off so a missing one fails instead of hanging on the net."""
    connection.execute("SET autoinstall_known_extensions = false")
    connection.execute("SET autoload_known_extensions = false")
    for package, name in [
        ("duckdb_extension_httpfs", "httpfs"),
        ("duckdb_extension_postgres_scanner", "postgres_scanner"),
        ("duckdb_extension_ducklake", "ducklake"),
    ]:
        package_dir = Path(import_module(package).__file__ or "").parent
        path = package_dir / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
        connection.execute(f"LOAD '{path}'")


def test_ducklake_on_postgres_and_s3(postgres_server: PostgresServer, s3_server: S3Server) -> None:
    catalog = postgres_server.create_database(_unique("lake").replace("-", "_"))
    bucket = _unique("lake")
    s3_server.create_bucket(bucket)
    endpoint = s3_server.endpoint_url.removeprefix("http://")
    connection = duckdb.connect()
    try:
        _load_packaged_extensions(connection)
        connection.execute(
            f"CREATE SECRET (TYPE s3, KEY_ID '{s3_server.access_key_id}', "
            f"SECRET '{s3_server.secret_access_key}', REGION '{s3_server.region}', "
            f"ENDPOINT '{endpoint}', URL_STYLE 'path', USE_SSL false)"
        )
        connection.execute(
            f"ATTACH 'ducklake:postgres:{catalog}' AS lake "
            f"(DATA_PATH 's3://{bucket}/tickets/', DATA_INLINING_ROW_LIMIT 0)"
        )
        connection.execute("CREATE TABLE lake.tickets (id INTEGER, language VARCHAR)")
        connection.execute("INSERT INTO lake.tickets VALUES (1, 'DE'), (2, 'EN'), (3, 'DE')")
        rows = connection.execute(
            "SELECT language, count(*) FROM lake.tickets GROUP BY language ORDER BY language"
        ).fetchall()
    finally:
        connection.close()
    assert rows == [("DE", 2), ("EN", 1)]
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix="tickets/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert any(key.endswith(".parquet") for key in keys), keys


def test_a_server_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    """A broken setting must fail the test with the reason and the log, never skip it."""
    directory = tmp_path / "broken"
    with (
        pytest.MonkeyPatch.context() as patch,
        pytest.raises(pytest.fail.Exception, match=r"did not start.*log tail") as failure,
    ):
        patch.setattr(
            "ticket_assets_tests.services.POSTGRES_SETTINGS",
            {"max_connections": "not-a-number"},
        )
        with running_postgres(directory):
            pass
    assert "\n" not in str(failure.value)
    assert "max_connections" in str(failure.value)
    assert not any(directory.glob("cluster/data"))  # the cluster is gone, its logs kept
    assert f"log tail ({directory / 'postgres.log'})" in str(failure.value)
    assert (directory / "postgres.log").exists()

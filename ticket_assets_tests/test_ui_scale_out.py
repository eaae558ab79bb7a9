"""A UI backfill as a cluster runs it: the Dagster instance in PostgreSQL, the tables in a
DuckLake (catalog in PostgreSQL, Parquet on S3), and each run in its own process with its own
empty data directory (`scratch_launcher.py`), as a container or pod per run would have."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml

from ticket_assets.storage import Lake, TicketStore
from ticket_assets_tests.dagster_ui import ROOT, running_ui
from ticket_assets_tests.scratch_launcher import PID_TAG, SCRATCH_TAG
from ticket_assets_tests.services import PostgresServer, S3Server

NODES = ["topic", "email_draft", "tagging", "paraphrase", "translate", "first_response"]
PARTITIONS = [f"b{batch:04d}|{language}" for batch in range(2) for language in ("DE", "EN")]


def launch_errors(home: Path, run_ids: list[str]) -> list[str]:
    """Why runs failed before they started (the launcher's errors, logged as engine events)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [
            record.dagster_event.engine_event_data.error.message
            for run_id in run_ids
            for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if record.dagster_event and record.dagster_event.engine_event_data.error
        ]


def test_backfill_on_a_postgres_instance_and_a_lake_runs_each_run_in_its_own_scratch(
    tmp_path: Path,
    postgres_server: PostgresServer,
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = f"ui_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(f"{name}_dagster")
    catalog = f"postgres:{postgres_server.create_database(f'{name}_lake')}"
    bucket = name.replace("_", "-")
    s3_server.create_bucket(bucket)
    raw = yaml.safe_load((ROOT / "ticket_assets.yaml").read_text(encoding="utf-8"))
    raw["storage"] = {"backend": "ducklake", "catalog": catalog, "data_path": f"s3://{bucket}/"}
    raw.update(data_dir=str(tmp_path / "data"), languages=["DE", "EN"], modes={})
    raw.update(rows=16, batch_size=4, backfill_partitions_per_run=1)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    for variable, value in {
        **s3_server.environment(),
        "TICKET_ASSETS_INSTANCE": "postgres",
        "DAGSTER_PG_HOST": postgres_server.host,
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_USERNAME": postgres_server.user,
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": f"{name}_dagster",
    }.items():
        monkeypatch.setenv(variable, value)
    # The Postgres instance, plus a launcher that gives each run its own process and scratch.
    home = tmp_path / "dagster_home"
    home.mkdir()
    settings = yaml.safe_load((ROOT / "deploy" / "dagster.postgres.yaml").read_text())
    settings["run_launcher"] = {
        "module": "ticket_assets_tests.scratch_launcher",
        "class": "ScratchDirRunLauncher",
        "config": {"scratch_root": str(tmp_path / "scratch")},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")

    with running_ui(config, home, tmp_path) as ui:
        backfill = ui.wait(ui.launch(NODES, PARTITIONS), timeout=400)
        assert backfill["status"] == "COMPLETED_SUCCESS", ui.failures(backfill) + launch_errors(
            home, [run["runId"] for run in backfill["runs"]]
        )
        run_ids = [run["runId"] for run in backfill["runs"]]
    assert len(run_ids) == len(PARTITIONS)  # one run (and scratch) per partition

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = [instance.get_run_by_id(run_id) for run_id in run_ids]
    scratches = {run.tags[SCRATCH_TAG] for run in runs if run is not None}
    assert len(scratches) == len(run_ids)  # a scratch directory of its own per run
    assert len({run.tags[PID_TAG] for run in runs if run is not None}) == len(run_ids)
    for directory in (*map(Path, scratches), tmp_path / "data"):  # nothing but the lake
        assert not list(directory.rglob("*.duckdb")), directory

    dagster_db = postgres_server.conninfo(f"{name}_dagster")
    with psycopg2.connect(dagster_db) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
        assert cursor.fetchone()[0] >= len(run_ids)
    store = TicketStore(Lake(catalog, f"s3://{bucket}/"), "support_tickets")
    tickets = store.read_table("first_response")
    assert len(tickets) == 16 and set(tickets["language"]) == {"DE", "EN"}

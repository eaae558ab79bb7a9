"""Several machines, one dataset: CLI processes with separate data directories (as separate
clones on separate machines would have) sharing only a DuckLake (catalog in a private
PostgreSQL, Parquet data on a private S3 server) and its Postgres LLM cache."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

from ticket_assets_tests.conftest import CANARY_KEY
from ticket_assets_tests.fake_llm_server import FakeLLMState, fake_llm_server
from ticket_assets_tests.services import PostgresServer, S3Server

ROOT = Path(__file__).resolve().parent.parent
ROWS = 50
LANGUAGES = {"DE", "EN", "ES", "FR", "PT"}


def lake_config(
    tmp_path: Path, postgres: PostgresServer, s3: S3Server, url: str
) -> tuple[Path, str]:
    """The project's config with every node on a model at `url` and the tables in a new lake;
    returns it and the lake's bucket."""
    name = f"lake_{uuid.uuid4().hex[:10]}"
    bucket = name.replace("_", "-")
    s3.create_bucket(bucket)
    raw = yaml.safe_load((ROOT / "ticket_assets.yaml").read_text(encoding="utf-8"))
    raw["models"] = {"default": {"model": "openai/gpt-4o-mini", "api_base": url, "timeout_s": 5.0}}
    raw["storage"] = {
        "backend": "ducklake",
        "catalog": f"postgres:{postgres.create_database(name)}",
        "data_path": f"s3://{bucket}/tickets/",
    }
    raw.update(rows=ROWS, batch_size=10, modes={})
    path = tmp_path / "shared.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path, bucket


def machine(config: Path, data: Path, s3: S3Server, *command: str) -> subprocess.Popen[str]:
    """`python -m ticket_assets <command>` as a machine of its own: its data directory, its
    Dagster instance inside it, the lake's S3 settings and the API key in its environment."""
    env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    env.update(s3.environment(), OPENAI_API_KEY=CANARY_KEY)
    return subprocess.Popen(
        [sys.executable, "-m", "ticket_assets", *command, *_at(config, data)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _at(config: Path, data: Path) -> list[str]:
    return ["--config", str(config), "--data-dir", str(data)]


def finished(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


def exported(data: Path) -> pd.DataFrame:
    frame = pd.read_parquet(data / "exports" / "tickets.parquet")
    return frame.sort_values("ticket_id").reset_index(drop=True)


def test_two_machines_at_once_then_a_third_exports_and_reruns_without_model_calls(
    tmp_path: Path, postgres_server: PostgresServer, s3_server: S3Server
) -> None:
    state = FakeLLMState(seed=7)
    with fake_llm_server(state) as (url, _):
        config, bucket = lake_config(tmp_path, postgres_server, s3_server, url)
        a, b, c = (tmp_path / name for name in ("a", "b", "c"))
        first, second = machine(config, a, s3_server, "run"), machine(config, b, s3_server, "run")
        finished(first), finished(second)
        paid = state.requests
        assert paid > 0
        # No call was paid twice: each one is claimed by one machine (one process) and the
        # others wait for its answer. A repair's messages differ from its first question's.
        twice = [digest for digest, n in Counter(state.billed_digests).items() if n > 1]
        assert not twice, f"{len(twice)} of {len(state.billed_digests)} billed calls paid twice"

        # C never ran: its export comes from the lake alone.
        finished(machine(config, c, s3_server, "export"))
        tickets = exported(c)
        assert len(tickets) == ROWS and set(tickets["language"]) == LANGUAGES
        assert tickets["ticket_id"].is_unique

        # C's full run is answered by the shared cache, and writes what A exported.
        output = finished(machine(config, c, s3_server, "run"))
        assert state.requests == paid, output[-2000:]
    pd.testing.assert_frame_equal(exported(c), exported(a))
    keys = [item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert "tickets/exports/support_tickets/tickets.parquet" in keys
    assert any(key.endswith(".parquet") and "/exports/" not in key for key in keys)
    for data in (a, b, c):  # the key reached no file of any machine
        for path in data.rglob("*"):
            if path.is_file():
                assert CANARY_KEY.encode() not in path.read_bytes(), path


def test_a_ducklake_file_catalog_runs_on_one_machine(tmp_path: Path) -> None:
    """A `.ducklake` file and a data directory: DuckLake without any server, e.g. to try it."""
    raw = yaml.safe_load((ROOT / "ticket_assets.yaml").read_text(encoding="utf-8"))
    raw["storage"] = {
        "backend": "ducklake",
        "catalog": str(tmp_path / "lake" / "catalog.ducklake"),
        "data_path": str(tmp_path / "lake" / "data"),
    }
    raw.update(rows=20, batch_size=10, modes={})
    config = tmp_path / "file.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    (tmp_path / "lake").mkdir()
    env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    result = subprocess.run(
        [sys.executable, "-m", "ticket_assets", "run", *_at(config, tmp_path / "data")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert len(exported(tmp_path / "data")) == 20
    assert (tmp_path / "lake" / "data" / "exports" / "support_tickets" / "README.md").exists()
    assert "Lake:    DuckLake" in result.stdout

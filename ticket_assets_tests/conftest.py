"""Shared fixtures: small configs in temporary data directories, a Dagster instance."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from ticket_assets.config import RunConfig, load_config
from ticket_assets_tests.services import PostgresServer, S3Server, running_postgres, running_s3

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def small_config(tmp_path: Path) -> RunConfig:
    """The project's own config file, shrunk: 2 languages x 2 batches of 6 tickets."""
    return load_config(
        overrides={"rows": 24, "batch_size": 6, "languages": "DE,EN", "data_dir": str(tmp_path)}
    )


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as test_instance:
        yield test_instance


# An API key nobody has: tests check it never reaches a log, a file or an event.
CANARY_KEY = "sk-canary-3c1f8e7a9b2d4f60"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary directory with its own Dagster home and the canary key as OPENAI_API_KEY."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    return tmp_path


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A private PostgreSQL server, started by the first test that asks for it and shared by
    the session (each xdist worker has its own): initdb costs about a second. Tests isolate
    themselves with `create_database`."""
    with running_postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A private S3 server (moto, in its own process), shared like `postgres_server`;
    tests isolate themselves with `create_bucket`."""
    with running_s3(tmp_path_factory.mktemp("s3")) as server:
        yield server

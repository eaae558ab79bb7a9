"""Shared fixtures: small configs in temporary data directories, a Dagster instance."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from ticket_assets.config import RunConfig, load_config

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

"""Instance concurrency: node assets sit in the pool of their provider, and the instance that
`ui` prepares carries the project's limits (the e2e UI test checks runs respect them)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from ticket_assets.cli.instance import prepare_instance_home
from ticket_assets.config import RunConfig, build_config
from ticket_assets.orchestration.definitions import build_definitions


@pytest.fixture
def config(tmp_path: Path) -> RunConfig:
    return build_config(
        {"data_dir": str(tmp_path), "models": {"translate": {"model": "openai/gpt-4o-mini"}}}
    )


def test_each_node_asset_is_in_the_pool_of_its_provider(config: RunConfig) -> None:
    defs = build_definitions(config)
    pools = {name: defs.resolve_assets_def(name).op.pool for name in config.pipeline}
    assert pools == {**dict.fromkeys(config.pipeline, None), "translate": "llm_openai"}


def test_a_new_instance_gets_the_project_limits(
    config: RunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = prepare_instance_home(config)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.global_op_concurrency_default_limit == 1
        run_queue = instance.get_concurrency_config().run_queue_config
        assert run_queue is not None and run_queue.max_concurrent_runs == 4


def test_an_existing_instance_keeps_its_settings_and_is_told_it_has_no_limits(
    config: RunConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = "telemetry:\n  enabled: false\n"
    (home / "dagster.yaml").write_text(settings, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    prepare_instance_home(config)
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == settings
    assert "sets no concurrency limits" in capsys.readouterr().err

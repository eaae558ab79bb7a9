"""Config loading: modes, overrides, and one-line errors that name the key and allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticket_assets.config import ConfigError, RunConfig, build_config, load_config
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.schedules import check_refresh


def _built(raw: dict, **options: str) -> RunConfig:
    """A config as the CLI has it after loading: its pipeline built (plug-ins, prompt files,
    order) and refresh.cron checked (where the schedule is built)."""
    config = build_config(raw, **options)
    build_pipeline(config)
    check_refresh(config)
    return config


def test_default_file_loads_dev_mode_small_run() -> None:
    config = load_config()
    assert config.mode == "dev"
    assert config.rows >= 500
    assert set(config.languages) == {"DE", "EN", "ES", "FR", "PT"}
    assert config.pipeline[0] == "topic"


def test_prod_mode_profile_overrides_base(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config(mode="prod").rows == 10000
    monkeypatch.setenv("TICKET_ASSETS_MODE", "prod")
    assert load_config().mode == "prod"


def test_data_dir_from_the_environment_beats_the_file_but_not_the_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TICKET_ASSETS_DATA_DIR", str(tmp_path / "scratch"))
    assert build_config({"data_dir": "data"}).data_path == tmp_path / "scratch"
    flagged = build_config({}, overrides={"data_dir": str(tmp_path / "flag")})
    assert flagged.data_path == tmp_path / "flag"


def test_storage_settings_are_checked_and_never_hold_a_password() -> None:
    lake = {"backend": "ducklake", "catalog": "postgres:host=db dbname=t", "data_path": "s3://b/"}
    config = build_config({"storage": lake})
    assert config.storage.postgres_conninfo == "host=db dbname=t"
    for storage, message in [
        ({"backend": "ducklake", "data_path": "s3://b/"}, "needs catalog"),
        ({**lake, "catalog": "postgres:host=db password=hunter2"}, "must not hold a password"),
        ({**lake, "catalog": "sqlite:x.db"}, "postgres:<libpq connection string>"),
        ({"catalog": "lake.ducklake"}, "settings of backend: ducklake"),
    ]:
        with pytest.raises(ConfigError, match=message) as info:
            build_config({"storage": storage})
        assert "hunter2" not in str(info.value)


def test_overrides_beat_mode_and_languages_any_case() -> None:
    config = build_config(
        {"modes": {"dev": {"rows": 20}}}, overrides={"rows": 7, "languages": "de,En"}
    )
    assert config.rows == 7
    assert config.languages == {"DE": 1.0, "EN": 1.0}


def test_node_model_overrides_merge_onto_default() -> None:
    config = build_config(
        {
            "models": {
                "default": {"model": "openai/gpt-4o-mini", "max_tokens": 300},
                "translate": {"model": "openrouter/qwen/qwen-2.5-72b-instruct"},
            }
        }
    )
    translate = config.model_for("translate")
    assert translate.model == "openrouter/qwen/qwen-2.5-72b-instruct"
    assert translate.max_tokens == 300
    assert translate.provider == "openrouter"
    assert config.model_for("tagging").model == "openai/gpt-4o-mini"


def test_with_model_replaces_every_node() -> None:
    config = build_config({"models": {"translate": {"model": "openai/gpt-4o", "max_tokens": 9}}})
    swapped = config.with_model(model="ollama/llama3", api_base="http://127.0.0.1:1/v1")
    for node in config.pipeline:
        assert swapped.model_for(node).model == "ollama/llama3"
        assert swapped.model_for(node).api_base == "http://127.0.0.1:1/v1"
    assert swapped.model_for("translate").max_tokens == 9


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"rowz": 5}, "unknown key 'rowz'; allowed: dataset, mode, rows"),
        ({"rows": 0}, "rows: Input should be greater than 0"),
        ({"batch_size": -1}, "batch_size: Input should be greater than 0"),
        ({"languages": ["DE", "XX"]}, "'XX' is not a supported language; allowed: DE, EN, ES"),
        ({"languages": {"DE": 0}}, "weight of DE must be a positive number"),
        ({"source_language": "klingon"}, "source_language: 'klingon' is not a supported language"),
        ({"pipeline": ["topic", "summarize"]}, "unknown node 'summarize'; allowed: topic"),
        ({"models": {"default": {"modle": "x"}}}, "models.default: unknown key 'modle'"),
        ({"models": {"tranlsate": {"model": "x"}}}, "unknown key 'tranlsate'; allowed: default"),
        ({"cost_limits": {"warn": 1, "error": 0.5}}, "warn (1.0) must not exceed error (0.5)"),
        ({"currency": {"rates": {"EURO": 1}}}, "'EURO' is not a three-letter currency code"),
        ({"timezone": "Mars/Olympus"}, "'Mars/Olympus' is not an IANA time zone"),
        ({"mode": "staging"}, "mode: 'staging' is not a mode; allowed: dev, prod"),
        ({"modes": {"qa": {}}}, "unknown mode ['qa']; allowed: dev, prod"),
        ({"dataset": "My Tickets"}, "'My Tickets' is not a valid dataset name"),
        ({"refresh": {"cron": "every day"}}, "refresh.cron: 'every day' is not a cron expression"),
        (
            {"models": {"default": {"model": "gpt-4o"}}},
            "needs a provider prefix, e.g. openai/gpt-4o",
        ),
        (
            {"models": {"default": {"model": "ollama/llama3", "batch": True}}},
            "batch: true needs an OpenAI Batch API",
        ),
    ],
)
def test_bad_config_is_one_clear_line(raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _built(raw, source="ticket_assets.yaml")
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("ticket_assets.yaml")


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        (["topic", "translate"], "pipeline: the pipeline needs node 'email_draft'"),
        (["email_draft", "topic"], "node 'email_draft' reads type, queue"),
        (["topic", "tagging", "email_draft"], "node 'tagging' reads subject, body"),
        (["topic", "email_draft", "first_response"], "without translate, tickets in DE"),
    ],
)
def test_pipeline_order_errors(pipeline: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _built({"pipeline": pipeline})
    assert expected in str(caught.value)


def test_pipeline_variants_that_can_run() -> None:
    dropped = _built({"pipeline": ["topic", "email_draft", "tagging", "translate"]})
    assert "paraphrase" not in dropped.pipeline
    reordered = _built({"pipeline": ["topic", "email_draft", "paraphrase", "translate", "tagging"]})
    assert reordered.pipeline[-1] == "tagging"
    in_target = _built(
        {"pipeline": ["topic", "email_draft", "tagging"], "draft_in_target_language": True}
    )
    assert in_target.pipeline == ("topic", "email_draft", "tagging")
    assert _built({"pipeline": ["topic_node", "email_draft_node", "translate_node"]})


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rows: [1,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)

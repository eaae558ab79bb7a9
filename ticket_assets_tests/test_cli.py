"""The command line on small runs: offline, against a local OpenAI-compatible server, errors."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from ticket_assets.__main__ import main
from ticket_assets.storage import TicketStore
from ticket_assets_tests.fake_llm_server import FakeLLMState, fake_llm_server

CANARY_KEY = "sk-canary-7f3d9e21b4c8a6d0"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tmp_path / "data"


def test_offline_run_exports_and_summarizes(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--rows", "30", "--languages", "de,EN", "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert code == 0, err
    frame = pd.read_parquet(data_dir / "exports" / "tickets.parquet")
    assert len(frame) == 30
    assert set(frame["language"]) == {"DE", "EN"}
    assert "tickets per language" in out
    # --languages keeps the configured weights (DE 2, EN 4).
    assert "  DE: 10 (10)" in out and "  EN: 20 (20)" in out
    assert "email_draft" in out and "offline" in out
    assert "cost_eur" in out
    assert str(data_dir / "exports" / "tickets.csv") in out


def test_runs_are_recorded_in_the_ui_instance_by_default(data_dir: Path) -> None:
    args = ["run", "--rows", "8", "--languages", "PT", "--data-dir", str(data_dir)]
    assert main(args) == 0
    with dg.DagsterInstance.get() as instance:
        recorded = instance.get_latest_materialization_event(dg.AssetKey("translate"))
        assert recorded is not None
        assert instance.get_dynamic_partitions("support_tickets_batch") == ["b0000"]


def test_export_command_rewrites_files(data_dir: Path) -> None:
    assert main(["run", "--rows", "10", "--languages", "FR", "--data-dir", str(data_dir)]) == 0
    parquet = data_dir / "exports" / "tickets.parquet"
    parquet.unlink()
    assert main(["export", "--rows", "10", "--languages", "FR", "--data-dir", str(data_dir)]) == 0
    assert len(pd.read_parquet(parquet)) == 10


def test_config_error_is_one_line_and_exit_2(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--languages", "de,xx", "--data-dir", str(data_dir)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "'xx' is not a supported language; allowed: DE, EN, ES, FR, PT" in err
    assert "Traceback" not in err


def test_remote_model_through_litellm_against_local_server(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    with fake_llm_server() as (url, state):
        code = main(
            [
                "run",
                "--rows",
                "10",
                "--languages",
                "de,en",
                "--data-dir",
                str(data_dir),
                "--model",
                "openai/gpt-4o-mini",
                "--api-base",
                url,
            ]
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    frame = pd.read_parquet(data_dir / "exports" / "tickets.parquet")
    assert len(frame) == 10
    # Every request carried the key from the environment, and nothing else saw it.
    assert state.calls > 0 and all(a == f"Bearer {CANARY_KEY}" for a in state.authorization)
    assert f"{state.prompt_tokens}" in out.replace(",", "")
    # Data, exports and the Dagster instance (event log, run storage) live under tmp_path.
    for path in data_dir.parent.rglob("*"):
        if path.is_file():
            assert CANARY_KEY.encode() not in path.read_bytes(), path
    assert CANARY_KEY not in out + err


def test_invalid_llm_answers_fail_the_step_and_keep_existing_rows(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "--rows", "6", "--languages", "en", "--data-dir", str(data_dir)]
    assert main(args) == 0
    store = TicketStore(data_dir / "tickets.duckdb", "support_tickets")
    before = store.read_table("tagging")
    capsys.readouterr()
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    state = FakeLLMState(fixed_answers={"TagsAnswer": {"tags": ["Outage", "Unicorns"]}})
    with fake_llm_server(state) as (url, _):
        code = main([*args, "--seed", "7", "--model", "openai/gpt-4o-mini", "--api-base", url])
    _, err = capsys.readouterr()
    assert code == 1
    assert "step tagging failed" in err and "over max_reject_rate 2.0%" in err
    assert "not in the vocabulary: 'Unicorns'" in err
    assert "Traceback" not in err
    # Each answer was re-asked twice with the error, then every ticket was quarantined: far
    # past max_reject_rate, so the step failed without writing.
    assert state.calls == 6 * 3 + 6 + 6  # topic and email_draft ran, tagging 3 tries each
    pd.testing.assert_frame_equal(store.read_table("tagging"), before)


def test_select_reruns_translate_only(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--rows", "12", "--languages", "de,en", "--data-dir", str(data_dir)]
    assert main(["run", *args]) == 0
    store = TicketStore(data_dir / "tickets.duckdb", "support_tickets")
    before = {name: store.read_table(name) for name in ("email_draft", "first_response")}
    capsys.readouterr()
    assert main(["run", *args, "--select", "translate"]) == 0
    out = capsys.readouterr().out
    assert "the export was not selected" in out
    calls = store.read_table("llm_calls")
    last_run = calls[calls["run_id"] == calls["run_id"].iloc[-1]]
    assert set(last_run["node"]) == {"translate"} and len(last_run) == 4  # DE: 12 × 2/6
    for name, frame in before.items():
        pd.testing.assert_frame_equal(store.read_table(name), frame)
    assert main(["run", *args, "--select", "tranlsate"]) == 2
    assert "unknown asset ['tranlsate']" in capsys.readouterr().err


def test_strict_exits_1_on_a_failed_quality_check_after_writing_the_export(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No tolerance at all: 30 sampled tickets cannot match the configured label shares."""
    raw = yaml.safe_load((ROOT / "ticket_assets.yaml").read_text(encoding="utf-8"))
    raw["quality"] = {"label_balance": {"tolerance": 0, "noise_z": 0}}
    config = tmp_path / "strict.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    args = ["--config", str(config), "--rows", "30", "--languages", "de,EN"]
    args += ["--data-dir", str(data_dir)]
    assert main(["run", *args]) == 0  # reported, not fatal, without --strict
    assert "FAILED" in capsys.readouterr().out
    assert main(["export", *args, "--strict"]) == 1
    assert "error: quality checks failed: label_balance" in capsys.readouterr().err
    assert len(pd.read_parquet(data_dir / "exports" / "tickets.parquet")) == 30

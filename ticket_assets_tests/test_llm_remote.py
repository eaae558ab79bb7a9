"""Remote models end to end: the CLI and Dagster through the real litellm client against an
OpenAI-compatible server on 127.0.0.1, with latency and faults injected."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import yaml

from ticket_assets.__main__ import main
from ticket_assets_tests.conftest import CANARY_KEY
from ticket_assets_tests.fake_batch_server import fake_batch_server
from ticket_assets_tests.fake_llm_server import FakeLLMState, fake_llm_server

ROOT = Path(__file__).resolve().parent.parent
# gpt-4o-mini in litellm's bundled price map (USD per token).
INPUT_PRICE, OUTPUT_PRICE = 1.5e-07, 6e-07


@pytest.fixture
def server() -> Iterator[tuple[str, FakeLLMState]]:
    with fake_llm_server() as running:
        yield running


def write_config(tmp_path: Path, url: str, **settings: Any) -> Path:
    """The project's config with every node on openai/gpt-4o-mini at the local server."""
    raw = yaml.safe_load((ROOT / "ticket_assets.yaml").read_text(encoding="utf-8"))
    model = {"model": "openai/gpt-4o-mini", "api_base": url, "timeout_s": 1.0, "max_retries": 6}
    model.update(settings.pop("model", {}))
    raw["models"] = {"default": model, **settings.pop("models", {})}
    raw.update(settings)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def run(config: Path, data: Path, *extra: str) -> int:
    return main(["run", "--config", str(config), "--data-dir", str(data), *extra])


def ledger(data: Path) -> pd.DataFrame:
    with duckdb.connect(str(data / "tickets.duckdb"), read_only=True) as con:
        return con.execute("SELECT * FROM support_tickets.llm_calls").df()


def exported(data: Path) -> pd.DataFrame:
    return pd.read_parquet(data / "exports" / "tickets.parquet")


def test_200_tickets_cost_matches_the_servers_token_counts(
    env: Path, server: tuple[str, FakeLLMState], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = server
    data = env / "data"
    assert run(write_config(env, url), data, "--rows", "200") == 0
    out = capsys.readouterr().out
    tickets = exported(data)
    assert len(tickets) == 200
    assert set(tickets["language"]) == {"DE", "EN", "ES", "FR", "PT"}
    calls = ledger(data)
    assert calls["input_tokens"].sum() == state.prompt_tokens
    assert calls["output_tokens"].sum() == state.completion_tokens
    expected_cost = state.prompt_tokens * INPUT_PRICE + state.completion_tokens * OUTPUT_PRICE
    assert calls["cost_usd"].sum() == pytest.approx(expected_cost, rel=1e-9)
    assert (calls["price_source"] == "litellm").all()
    total_line = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert str(state.prompt_tokens) in total_line and str(state.completion_tokens) in total_line
    assert f"{expected_cost:.6f}"[:6] in total_line


def test_twenty_percent_faults_still_give_valid_rows_charged_once(
    env: Path, server: tuple[str, FakeLLMState]
) -> None:
    url, state = server
    state.fault_rate, state.timeout_s, state.seed = 0.2, 1.5, 3
    data = env / "data"
    assert run(write_config(env, url), data, "--rows", "60") == 0
    assert len(exported(data)) == 60  # the export validates every row against the schema
    assert sum(state.faults_served.values()) > 0.15 * state.requests
    assert set(state.faults_served) == {
        "429",
        "500",
        "timeout",
        "malformed",
        "invalid",
        "wrong_language",
    }
    calls = ledger(data)
    paid = calls[~calls["cache_hit"]]
    # Each request the server billed is booked once: timed-out requests too (the server
    # finished them after the client gave up), with their prompt tokens.
    deadline = time.monotonic() + 10
    while state.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(paid) == state.calls and not paid["call_id"].duplicated().any()
    assert paid["input_tokens"].sum() == state.prompt_tokens
    timed_out = paid[paid["price_source"] == "estimated: no answer received"]
    assert len(timed_out) == state.faults_served["timeout"]
    assert (calls["http_attempts"] > 1).any()
    assert (calls["attempt"] > 1).any()  # invalid answers were repaired


def test_rerun_at_the_same_address_makes_zero_http_calls(env: Path) -> None:
    data = env / "data"
    state = FakeLLMState()
    with fake_llm_server(state) as (url, _):
        config = write_config(env, url)
        assert run(config, data, "--rows", "20") == 0
        paid = state.requests
        before = exported(data)
        assert run(config, data, "--rows", "20") == 0
        assert state.requests == paid
        calls = ledger(data)
        second_run = calls[calls["run_id"] == calls["run_id"].iloc[-1]]
        assert second_run["cache_hit"].all() and second_run["cost_usd"].sum() == 0
        assert run(config, data, "--rows", "20", "--no-cache") == 0
        assert state.requests == 2 * paid
    pd.testing.assert_frame_equal(before, exported(data))


def test_a_killed_run_restarted_pays_each_call_once(env: Path) -> None:
    """Each answer is cached as it arrives; only calls in flight at the kill are paid twice."""
    concurrency = 4
    reference = FakeLLMState(latency_s=0.02)
    with fake_llm_server(reference) as (url, _):
        assert run(write_config(env, url), env / "reference", "--rows", "30") == 0
    state = FakeLLMState(latency_s=0.02)
    data = env / "data"
    with fake_llm_server(state) as (url, _):
        config = write_config(env, url, model={"concurrency": concurrency})
        command = [
            sys.executable,
            "-m",
            "ticket_assets",
            "run",
            "--config",
            str(config),
            "--data-dir",
            str(data),
            "--rows",
            "30",
        ]
        child = subprocess.Popen(
            command,
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while state.calls < reference.calls // 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
        paid_before_kill = state.calls
        assert 0 < paid_before_kill < reference.calls
        assert (
            subprocess.run(command, cwd=ROOT, env=os.environ.copy(), capture_output=True).returncode
            == 0
        )
    assert len(exported(data)) == 30
    assert reference.calls <= state.calls <= reference.calls + concurrency


def test_repairs_retries_and_backoff_are_accounted(
    env: Path, server: tuple[str, FakeLLMState]
) -> None:
    url, state = server
    # The first calls (topic) meet a 429, a 500, a timeout, then two invalid answers.
    state.faults = ["429", "500", "timeout", "invalid", "invalid"]
    state.timeout_s = 1.5
    data = env / "data"
    config = write_config(env, url, model={"concurrency": 1})
    assert run(config, data, "--rows", "1", "--languages", "de") == 0
    topic = ledger(data).query("node == 'topic'").sort_values("attempt")
    unanswered = topic["price_source"] == "estimated: no answer received"
    answered = topic[~unanswered]
    assert answered["attempt"].tolist() == [1, 2, 3]
    assert answered["http_attempts"].tolist()[0] == 4  # 429, 500, timeout, then an answer
    # The timed-out request is booked too: the server finished (and billed) it anyway.
    assert topic[unanswered]["attempt"].tolist() == [1]
    assert len(exported(data)) == 1


def test_grouped_calls_cut_calls_per_ticket(env: Path, server: tuple[str, FakeLLMState]) -> None:
    url, state = server
    data = env / "data"
    config = write_config(env, url, model={"tickets_per_call": 10})
    assert run(config, data, "--rows", "40") == 0
    tickets = exported(data)
    assert len(tickets) == 40 and tickets["tags"].map(len).between(4, 8).all()
    calls = ledger(data)
    assert (calls["tickets"] > 1).all()
    assert state.calls / len(tickets) < 1.0  # six nodes, yet under one call per ticket


def test_cost_limits_and_budget(
    env: Path, server: tuple[str, FakeLLMState], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = server
    expensive = {"openai/gpt-4o-mini": {"input_per_million": 100.0, "output_per_million": 100.0}}
    config = write_config(env, url, prices=expensive, cost_limits={"warn": 0.001, "error": 0.5})
    assert run(config, env / "a", "--rows", "2", "--languages", "en", "--no-cache") == 0
    err = capsys.readouterr().err
    assert "over cost_limits.warn" in err
    config = write_config(env, url, prices=expensive, cost_limits={"warn": 0.001, "error": 0.002})
    assert run(config, env / "b", "--rows", "2", "--languages", "en", "--no-cache") == 1
    assert "over cost_limits.error $0.002" in capsys.readouterr().err
    state.requests = 0
    config = write_config(env, url, prices=expensive, cost_limits={"warn": 1.0, "error": 5.0})
    code = run(
        config, env / "c", "--rows", "30", "--languages", "en", "--no-cache", "--budget", "0.5"
    )
    assert code == 1
    assert "run budget $0.5000" in capsys.readouterr().err
    assert ledger(env / "c")["cost_usd"].sum() <= 0.5


def test_missing_key_is_a_clear_error_before_any_call(
    env: Path,
    server: tuple[str, FakeLLMState],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, state = server
    monkeypatch.delenv("OPENAI_API_KEY")
    assert run(write_config(env, url), env / "data", "--rows", "5") == 2
    err = capsys.readouterr().err
    assert "needs OPENAI_API_KEY; set it before the run" in err
    assert state.requests == 0


def test_persistent_failures_stop_the_node_early(
    env: Path, server: tuple[str, FakeLLMState], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = server
    state.fault_rate, state.fault_kinds = 1.0, ("500",)
    config = write_config(env, url, model={"max_retries": 0, "concurrency": 4})
    assert run(config, env / "data", "--rows", "100", "--languages", "en") == 1
    err = capsys.readouterr().err
    assert "failed after retries (100% > max_error_rate 10%); stopped early" in err
    assert state.requests < 100


def test_the_api_key_reaches_no_log_metadata_table_export_or_event(
    env: Path, server: tuple[str, FakeLLMState], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = server
    data = env / "data"
    config = write_config(env, url)
    assert run(config, data, "--rows", "10") == 0
    # A provider that keeps refusing the key, and echoes it in its error message.
    state.fault_rate, state.fault_kinds = 1.0, ("401",)
    assert run(config, data, "--rows", "10", "--no-cache", "--seed", "9") == 1
    out, err = capsys.readouterr()
    assert "AuthenticationError" in err and "***" in err
    assert CANARY_KEY not in out + err
    assert any(a == f"Bearer {CANARY_KEY}" for a in state.authorization)
    # Data, exports, ledger, cache, and the Dagster instance (event log, runs, compute logs).
    for path in env.rglob("*"):
        if path.is_file():
            assert CANARY_KEY.encode() not in path.read_bytes(), path


def test_estimate_predicts_the_calls_of_a_run(
    env: Path, server: tuple[str, FakeLLMState], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = server
    config = write_config(env, url, models={"tagging": {"tickets_per_call": 5}})
    args = ["--config", str(config), "--data-dir", str(env / "data"), "--rows", "50"]
    assert main(["estimate", *args]) == 0
    out = capsys.readouterr().out
    assert state.requests == 0  # estimating spends nothing
    estimated = {
        line.split()[0]: int(line.split()[2])
        for line in out.splitlines()
        if line.strip() and line.split()[0] in ("topic", "tagging", "translate")
    }
    assert main(["run", *args]) == 0
    actual = ledger(env / "data").groupby("node").size()
    for node, calls in estimated.items():
        assert abs(calls - actual[node]) <= max(2, 0.1 * actual[node]), (node, calls)


def test_batch_mode_for_one_node(env: Path, server: tuple[str, FakeLLMState]) -> None:
    url, _ = server
    with fake_batch_server() as (batch_url, batch_state):
        translate = {
            "model": "openai/gpt-4o-mini",
            "api_base": batch_url,
            "batch": True,
            "batch_poll_s": 0.05,
        }
        config = write_config(env, url, models={"translate": translate})
        assert run(config, env / "data", "--rows", "20", "--languages", "de,en") == 0
    assert batch_state.batches_created == 1
    calls = ledger(env / "data").query("node == 'translate'")
    assert calls["batch_api"].all()
    # Batch prices are half of gpt-4o-mini's online prices.
    expected = (calls["input_tokens"] * INPUT_PRICE + calls["output_tokens"] * OUTPUT_PRICE) / 2
    assert calls["cost_usd"].sum() == pytest.approx(expected.sum())
    assert len(exported(env / "data")) == 20


def test_worker_processes_give_the_same_tickets_and_ledger(
    env: Path, server: tuple[str, FakeLLMState]
) -> None:
    url, state = server
    rows = ["--rows", "130", "--languages", "en", "--no-cache"]
    assert run(write_config(env, url), env / "one", *rows) == 0
    single_process_calls = state.calls
    assert run(write_config(env, url, model={"workers": 2}), env / "two", *rows) == 0
    assert state.calls == 2 * single_process_calls
    pd.testing.assert_frame_equal(exported(env / "one"), exported(env / "two"))
    one, two = ledger(env / "one"), ledger(env / "two")
    assert sorted(one["key"]) == sorted(two["key"])
    assert two["input_tokens"].sum() == one["input_tokens"].sum()


def test_a_self_hosted_model_needs_no_key_and_is_priced_from_config(
    env: Path, server: tuple[str, FakeLLMState], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hosted_vllm/` (vLLM and other self-hosted OpenAI-compatible servers) goes through
    litellm's own HTTP handler; a model litellm has no price for is priced from `prices`."""
    monkeypatch.delenv("OPENAI_API_KEY")
    url, state = server
    data = env / "data"
    model = "hosted_vllm/acme/support-7b"
    prices = {model: {"input_per_million": 0.2, "output_per_million": 0.6}}
    config = write_config(env, url, model={"model": model}, prices=prices)
    assert run(config, data, "--rows", "20") == 0
    assert len(exported(data)) == 20
    calls = ledger(data)
    assert set(calls["model"]) == {model}
    assert set(calls["price_source"]) == {"config"}
    assert calls["input_tokens"].sum() == state.prompt_tokens
    expected = (state.prompt_tokens * 0.2 + state.completion_tokens * 0.6) / 1e6
    assert calls["cost_usd"].sum() == pytest.approx(expected)

"""What no retry can fix stops the run at once, through the CLI and the real litellm client:
a refused key, an unknown model, a server that is not running, a host that does not resolve.
The run ends with one line naming the model, the api_base and the fix, and never the key."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from ticket_assets.config import ModelConfig
from ticket_assets.llm.providers import remote_provider
from ticket_assets.llm.providers.litellm_adapter import _classify
from ticket_assets.llm.types import (
    EndpointError,
    PermanentProviderError,
    ProviderError,
    UnreachableError,
)
from ticket_assets_tests.fake_llm_server import FakeLLMState, fake_llm_server
from ticket_assets_tests.schema_llm_server import SchemaLLMState, schema_llm_server
from ticket_assets_tests.test_llm_remote import CANARY_KEY, run, write_config

CONCURRENCY = 8
# Requests that may reach the server after the first wave (calls waiting for a slot that
# started before the verdict).
FEW = 3


@pytest.fixture(scope="module", autouse=True)
def _warm_imports() -> None:
    """Time the runs, not the first import of litellm and the CLI's modules (seconds)."""
    import ticket_assets.cli.dispatch  # noqa: F401

    remote_provider()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    return tmp_path


def _timed_run(config: Path, data: Path) -> tuple[int, float]:
    started = time.monotonic()
    code = run(config, data, "--rows", "40", "--languages", "de,en")
    return code, time.monotonic() - started


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_key_stops_the_run_at_once_and_the_key_is_shown_nowhere(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The server refuses every call and echoes the key in its error body.
    state = FakeLLMState(fault_rate=1.0, fault_kinds=("401",))
    data = env / "data"
    with fake_llm_server(state) as (url, _):
        config = write_config(env, url, model={"concurrency": CONCURRENCY})
        code, elapsed = _timed_run(config, data)
    out, err = capsys.readouterr()
    assert code == 1 and elapsed < 10
    assert 0 < state.requests <= CONCURRENCY + FEW
    assert f"Bearer {CANARY_KEY}" in state.authorization  # the key was sent, and refused
    line = _last_line(err)
    assert line.startswith("error: step topic failed:")
    assert f"openai/gpt-4o-mini at {url}: the API key was refused" in line
    assert "put a valid key in OPENAI_API_KEY" in line
    assert CANARY_KEY not in out + err
    written = [path for path in data.rglob("*") if path.is_file()]
    assert {"tickets.duckdb", "llm_cache.sqlite"} <= {path.name for path in written}
    for path in written:
        assert CANARY_KEY.encode() not in path.read_bytes(), path


def test_a_server_that_is_not_running_stops_the_run_before_any_node(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI's preflight finds it (preflight.py); a server that stops answering during the
    # run is told apart by the engine (test_refused_keys_unknown_models_and_closed_ports_...).
    url = f"http://127.0.0.1:{_free_port()}/v1"
    code, elapsed = _timed_run(write_config(env, url), env / "data")
    assert code == 2 and elapsed < 10
    line = _last_line(capsys.readouterr().err)
    assert line.startswith("error: ") and f"nothing answers at {url} (connection refused)" in line


def test_an_unknown_model_stops_the_run_at_the_first_answer(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = SchemaLLMState(model="acme/support-7b")
    with schema_llm_server(state) as (url, _):
        config = write_config(env, url, model={"concurrency": CONCURRENCY})
        code, elapsed = _timed_run(config, env / "data")
    assert code == 1 and elapsed < 10
    assert 0 < state.requests <= CONCURRENCY + FEW
    line = _last_line(capsys.readouterr().err)
    assert f"openai/gpt-4o-mini at {url}: model not found (HTTP 404" in line
    assert "The model `gpt-4o-mini` does not exist" in line


# --- how the provider classifies real litellm errors -------------------------------------------


def _call(model: ModelConfig) -> ProviderError:
    provider = remote_provider()
    messages = [{"role": "user", "content": "Hello"}]
    with pytest.raises(ProviderError) as raised:
        asyncio.run(
            provider.acomplete(model, messages, {"type": "json_object"}, 1, "r1", lambda: None)
        )
    return raised.value


@pytest.mark.parametrize("name", ["openai/gpt-4o-mini", "hosted_vllm/acme/support-7b"])
def test_refused_keys_unknown_models_and_closed_ports_are_told_apart(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    monkeypatch.setenv("HOSTED_VLLM_API_KEY", CANARY_KEY)
    variable = "OPENAI_API_KEY" if name.startswith("openai/") else "HOSTED_VLLM_API_KEY"
    with fake_llm_server(FakeLLMState(faults=["401"])) as (url, _):
        refused = _call(ModelConfig(model=name, api_base=url))
    assert isinstance(refused, EndpointError)
    assert "the API key was refused (HTTP 401" in str(refused) and variable in str(refused)
    assert CANARY_KEY not in str(refused)
    with schema_llm_server(SchemaLLMState(model="another-model")) as (url, _):
        unknown = _call(ModelConfig(model=name, api_base=url))
    assert isinstance(unknown, EndpointError) and "model not found (HTTP 404" in str(unknown)
    url = f"http://127.0.0.1:{_free_port()}/v1"
    closed = _call(ModelConfig(model=name, api_base=url))
    assert isinstance(closed, UnreachableError)
    assert f"at {url}: connection refused (3 attempts); is the server running?" in str(
        closed.fatal(3)
    )


def _chained(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


def test_a_host_that_does_not_resolve_and_urls_with_credentials() -> None:
    """Built errors: no DNS query leaves this machine."""
    import litellm  # seconds to import: not at collection

    model = ModelConfig(model="openai/x", api_base="http://user:secret@llm.internal:8000/v1?k=1")
    cause = socket.gaierror(-2, "Name or service not known")
    connection = litellm.InternalServerError("Connection error.", "openai", "x")
    unresolved = _classify(_chained(connection, cause), model)
    assert isinstance(unresolved, UnreachableError)
    fatal = str(unresolved.fatal(3))
    assert fatal.startswith("openai/x at http://llm.internal:8000/v1: host name does not resolve")
    assert "secret" not in fatal and "k=1" not in fatal
    unchained = litellm.APIConnectionError("Cannot connect [Name or service not known]", "x", "x")
    unresolved = _classify(unchained, model)  # a client that does not chain the OS error
    assert isinstance(unresolved, UnreachableError) and "resolve" in str(unresolved.fatal(3))
    unknown = litellm.BadRequestError("model 'x' not found, try pulling it first", "x", "openai")
    assert "model not found (HTTP 400" in str(_classify(unknown, model))
    rejected = litellm.BadRequestError("Unsupported value: 'temperature'", "x", "openai")
    assert type(_classify(rejected, model)) is PermanentProviderError

"""Our own client for OpenAI-compatible endpoints (providers/openai_compatible.py): which
models take it, what it sends, when it journals, how it reads answers and errors, and that
its connection pool lives and dies with its event loop. Against the fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from collections.abc import Mapping
from typing import Any

import pytest

from ticket_assets.config import ModelConfig
from ticket_assets.llm.providers import remote_provider
from ticket_assets.llm.providers.openai_compatible import OpenAICompatibleProvider
from ticket_assets.llm.providers.rate_limits import Quota, quota
from ticket_assets.llm.providers.routes import openai_route
from ticket_assets.llm.types import (
    PermanentProviderError,
    ProviderReply,
    ProviderTimeout,
    RateLimited,
    TransientProviderError,
)
from ticket_assets_tests.conftest import CANARY_KEY
from ticket_assets_tests.fake_llm_server import FakeLLMState, fake_llm_server

MESSAGES = [
    {"role": "system", "content": 'Write a "TopicAnswer" matching this JSON schema: {}'},
    {"role": "user", "content": "The printer is offline."},
]


def _ask(
    provider: OpenAICompatibleProvider,
    model: ModelConfig,
    on_send: Any = lambda: None,
    on_headers: Any = None,
    response_format: Mapping[str, Any] | None = None,
) -> ProviderReply:
    response_format = response_format or {"type": "json_object"}
    return asyncio.run(
        provider.acomplete(model, MESSAGES, response_format, 7, "call-1", on_send, on_headers)
    )


@pytest.mark.parametrize(
    ("model", "api_base", "url", "name", "keys"),
    [
        ("openai/gpt-4o-mini", None, "https://api.openai.com/v1", "gpt-4o-mini", "OPENAI"),
        ("openai/x", "http://h:8000/v1/", "http://h:8000/v1", "x", "OPENAI"),
        ("hosted_vllm/acme/7b", "http://h/v1", "http://h/v1", "acme/7b", "HOSTED_VLLM"),
        ("openrouter/a/b", None, "https://openrouter.ai/api/v1", "a/b", "OPENROUTER"),
        ("together_ai/m", None, "https://api.together.xyz/v1", "m", "TOGETHERAI"),
        ("ollama/llama3", "http://h:11434", "http://h:11434/v1", "llama3", "OLLAMA"),
        ("groq/llama", "http://gw/v1", "http://gw/v1", "llama", "GROQ"),
    ],
)
def test_openai_compatible_models_take_our_client(
    model: str, api_base: str | None, url: str, name: str, keys: str
) -> None:
    route = openai_route(model, api_base)
    assert route is not None
    assert route.url == f"{url}/chat/completions" and route.name == name
    assert route.key_variables[0] == f"{keys}_API_KEY"


@pytest.mark.parametrize(
    ("model", "api_base"),
    [("anthropic/claude-3-5-haiku", None), ("gemini/gemini-2.0-flash", "http://h"), ("x", None)],
)
def test_other_protocols_stay_with_litellm(model: str, api_base: str | None) -> None:
    assert openai_route(model, api_base) is None
    assert openai_route("hosted_vllm/m", None) is None  # no address to send to


def test_a_call_sends_the_body_key_and_request_id_and_reads_usage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    provider = OpenAICompatibleProvider()
    with fake_llm_server() as (url, state):
        model = ModelConfig(model="openai/gpt-4o-mini", api_base=url, max_tokens=123)
        reply = _ask(provider, model)
    assert json.loads(reply.text) == {"topic": "Printer keeps dropping off the network"}
    assert reply.input_tokens == state.prompt_tokens and reply.output_tokens > 0
    assert state.authorization == [f"Bearer {CANARY_KEY}"]
    assert state.billed_ids == ["call-1"]


def test_the_body_is_the_json_an_openai_server_expects(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = OpenAICompatibleProvider()
    model = ModelConfig(model="hosted_vllm/acme/7b", api_base="http://h/v1", temperature=0.3)
    schema = {"title": "TopicAnswer", "type": "object"}
    response_format = provider.response_format(model, schema, "TopicAnswer")
    assert provider.response_format(model, schema, "TopicAnswer") is response_format  # cached
    route = openai_route(model.model, model.api_base)
    assert route is not None
    body = json.loads(provider._body(route, model, MESSAGES, response_format, 7))
    assert body == {
        "model": "acme/7b",
        "temperature": 0.3,
        "seed": 7,
        "max_tokens": 800,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "TopicAnswer", "schema": schema, "strict": False},
        },
        "messages": MESSAGES,
    }


def test_the_journal_is_written_as_the_request_is_written_and_only_then() -> None:
    """`on_send` runs when the bytes go to the connection: after it is open (a refused
    connection journals nothing), before the server has the request."""
    provider = OpenAICompatibleProvider()
    seen: list[int] = []
    with fake_llm_server(FakeLLMState(latency_s=0.05)) as (url, state):
        model = ModelConfig(model="hosted_vllm/m", api_base=url)
        _ask(provider, model, on_send=lambda: seen.append(state.requests))
        assert seen == [0] and state.requests == 1
    closed = ModelConfig(model="hosted_vllm/m", api_base=url)  # the server is gone
    with pytest.raises(TransientProviderError):
        _ask(provider, closed, on_send=lambda: seen.append(-1))
    assert seen == [0]


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("429", RateLimited),
        ("500", TransientProviderError),
        ("timeout", ProviderTimeout),
        ("cut_body", TransientProviderError),
    ],
)
def test_faults_become_provider_errors(fault: str, kind: type[Exception]) -> None:
    provider = OpenAICompatibleProvider()
    state = FakeLLMState(faults=[fault], retry_after_s=1.0, timeout_s=1.0)
    with fake_llm_server(state) as (url, _):
        model = ModelConfig(model="hosted_vllm/m", api_base=url, timeout_s=0.5)
        with pytest.raises(kind) as raised:
            _ask(provider, model)
    if fault == "429":
        assert isinstance(raised.value, RateLimited) and raised.value.retry_after == 1.0


def test_a_rejected_json_schema_falls_back_to_json_object_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from ticket_assets_tests.schema_llm_server import SchemaLLMState, schema_llm_server

    provider = OpenAICompatibleProvider()
    schema = {"type": "object", "properties": {"subject": {"type": "string"}}}
    with schema_llm_server(SchemaLLMState(reject_json_schema=True)) as (url, state):
        model = ModelConfig(model="hosted_vllm/m", api_base=url)
        for _ in range(2):
            response_format = provider.response_format(model, schema, "S")
            reply = _ask(provider, model, response_format=response_format)
            assert "subject" in json.loads(reply.text)
        strict = model.model_copy(update={"structured_output": "json_schema"})
        with pytest.raises(PermanentProviderError, match="json_schema"):
            _ask(provider, strict, response_format=provider.response_format(strict, schema, "S"))
    assert state.response_formats == ["json_schema", "json_object", "json_object", "json_schema"]
    warned = [r for r in caplog.records if "rejected response_format" in r.getMessage()]
    assert len(warned) == 1


def test_rate_limit_headers_reach_the_caller() -> None:
    provider = OpenAICompatibleProvider()
    stated: list[Quota | None] = []
    headers = {"x-ratelimit-remaining-requests": "7", "x-ratelimit-reset-requests": "2s"}
    with fake_llm_server(FakeLLMState(headers=headers)) as (url, _):
        model = ModelConfig(model="hosted_vllm/m", api_base=url)
        _ask(provider, model, on_headers=lambda h: stated.append(quota(h)))
    assert stated == [Quota(requests=7, requests_reset_s=2.0)]


def test_one_pool_per_event_loop_closed_with_it() -> None:
    provider = OpenAICompatibleProvider()
    with fake_llm_server() as (url, state):
        model = ModelConfig(model="hosted_vllm/m", api_base=url)

        async def two_calls() -> None:
            await provider.acomplete(model, MESSAGES, {"type": "json_object"}, 1, "a", lambda: None)
            first = await provider._session()
            await provider.acomplete(model, MESSAGES, {"type": "json_object"}, 1, "b", lambda: None)
            assert await provider._session() is first

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            asyncio.run(two_calls())
            asyncio.run(two_calls())  # a new loop gets a new session
            gc.collect()
    assert state.calls == 4
    assert not [w for w in caught if "Unclosed" in str(w.message)]


def test_the_factory_routes_by_model(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = remote_provider()
    lean = ModelConfig(model="openai/gpt-4o-mini", api_base="http://h/v1")
    assert type(provider._for(lean)).__name__ == "OpenAICompatibleProvider"  # type: ignore[attr-defined]
    other = ModelConfig(model="anthropic/claude-3-5-haiku-latest")
    assert type(provider._for(other)).__name__ == "LiteLLMProvider"  # type: ignore[attr-defined]

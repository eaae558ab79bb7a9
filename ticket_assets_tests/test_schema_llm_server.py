"""The schema-driven test server, and the structured-output setting that decides whether a
server sees the JSON schema in `response_format` or only in the prompt."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from ticket_assets.config import ModelConfig
from ticket_assets.core.detection import detect_language
from ticket_assets.llm.planning import GROUP_INSTRUCTIONS, SINGLE_INSTRUCTIONS
from ticket_assets.llm.providers import remote_provider
from ticket_assets.llm.providers.litellm_adapter import LiteLLMProvider
from ticket_assets.llm.types import PermanentProviderError
from ticket_assets_tests.schema_llm_server import SchemaLLMState, schema_llm_server

QUEUES = ["Technical Support", "Billing and Payments", "Network"]
ADAPTER_LOGGER = "ticket_assets.llm.providers.litellm_adapter"
SCHEMA: dict[str, Any] = {
    "title": "TicketAnswer",
    "type": "object",
    "properties": {
        "subject": {"type": "string", "maxLength": 80},
        "body": {"type": "string", "minLength": 100},
        "queue": {"$ref": "#/$defs/Queue"},
        "priority": {"type": "integer", "minimum": 1, "maximum": 3},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 4, "maxItems": 8},
        "labels": {
            "type": "array",
            "items": {"type": "string", "enum": QUEUES},
            "minItems": 2,
            "maxItems": 3,
        },
    },
    "required": ["subject", "body", "queue", "priority", "tags", "labels"],
    "$defs": {"Queue": {"type": "string", "enum": QUEUES}},
}


def _json_schema_format(schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "TicketAnswer", "schema": schema}}


def _post(url: str, body: dict[str, Any], model: str = "any") -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"{url}/chat/completions",
        data=json.dumps({"model": model, **body}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-echo-123456789"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _content(raw: bytes) -> str:
    return json.loads(raw)["choices"][0]["message"]["content"]


def _ask(url: str, system: str, user: str = "A printer problem.", **body: Any) -> Any:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    status, raw = _post(url, {"messages": messages, **body})
    assert status == 200, raw
    return json.loads(_content(raw))


def test_it_fills_the_schema_it_is_sent_in_the_language_asked() -> None:
    with schema_llm_server() as (url, _):
        answers = [
            _ask(url, "Write in German.", response_format=_json_schema_format()) for _ in range(30)
        ]
    for answer in answers:
        assert answer["queue"] in QUEUES
        assert 1 <= answer["priority"] <= 3
        assert 4 <= len(answer["tags"]) <= 8 and len(set(answer["tags"])) == len(answer["tags"])
        assert 2 <= len(answer["labels"]) <= 3
        assert {label.lower() for label in answer["labels"]} <= {q.lower() for q in QUEUES}
        assert len(answer["subject"]) <= 80 and len(answer["body"]) >= 100
        assert detect_language(answer["body"]) == "DE"
    labels = [label for answer in answers for label in answer["labels"]]
    assert any(label not in QUEUES for label in labels)  # a case slip now and then
    tags = {tag for answer in answers for tag in answer["tags"]}
    assert {"Printer", "Network Issues"} <= tags  # its own idea of the topic, no vocabulary


@pytest.mark.parametrize(
    ("instruction", "code"),
    [
        ("Translate from English into French.", "FR"),
        ("Write the reply in Spanish.", "ES"),
        ("Rewrite it in Portuguese.", "PT"),
        ("Answer in English.", "EN"),
    ],
)
def test_the_schema_in_the_prompt_and_grouped_tickets(instruction: str, code: str) -> None:
    item = {**SCHEMA, "properties": {"id": {"type": "string"}, **SCHEMA["properties"]}}
    system = f"{instruction}\n\n" + GROUP_INSTRUCTIONS.format(count=3, schema=json.dumps(item))
    user = "\n\n".join(f"### Ticket T-{n}\nThe dashboard is slow." for n in range(3))
    with schema_llm_server() as (url, state):
        grouped = _ask(url, system, user, response_format={"type": "json_object"})
        single = _ask(
            url, f"{instruction}\n\n" + SINGLE_INSTRUCTIONS.format(schema=json.dumps(SCHEMA))
        )
    assert [item["id"] for item in grouped["items"]] == ["T-0", "T-1", "T-2"]
    for answer in [*grouped["items"], single]:
        assert answer["queue"] in QUEUES and detect_language(answer["body"]) == code
    assert "Dashboard" in grouped["items"][0]["tags"]  # the topic the ticket is about
    assert state.response_formats == ["json_object", "none"]


def test_faults_come_at_the_configured_rate_and_are_counted() -> None:
    state = SchemaLLMState(fault_rate=0.3, faults=("429", "500", "malformed"), seed=5)
    statuses: list[int] = []
    malformed = prompt_tokens = 0
    with schema_llm_server(state) as (url, _):
        for _ in range(300):
            messages = [{"role": "user", "content": "Write in English about a printer."}]
            status, raw = _post(url, {"messages": messages})
            statuses.append(status)
            if status == 200:
                prompt_tokens += json.loads(raw)["usage"]["prompt_tokens"]
                try:
                    json.loads(_content(raw))
                except json.JSONDecodeError:
                    malformed += 1
        with urllib.request.urlopen(f"{url}/stats") as response:
            stats = json.loads(response.read())
    faults = statuses.count(429) + statuses.count(500) + malformed
    assert 0.23 <= faults / 300 <= 0.37
    assert stats["requests"] == 300
    assert stats["billed_calls"] == statuses.count(200)
    assert stats["prompt_tokens"] == prompt_tokens > 0
    assert stats["completion_tokens"] > 0
    assert stats["faults"] == {"429": statuses.count(429), "500": statuses.count(500)} | {
        "malformed": malformed
    }


def test_rate_limits_say_when_to_retry_and_a_refused_key_is_echoed() -> None:
    with schema_llm_server(SchemaLLMState(fault_rate=1.0, faults=("429",))) as (url, _):
        request = urllib.request.Request(f"{url}/chat/completions", data=b'{"messages": []}')
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request)
        assert raised.value.code == 429 and raised.value.headers["Retry-After"] == "1"
    with schema_llm_server(SchemaLLMState(fault_rate=1.0, faults=("401",))) as (url, _):
        status, raw = _post(url, {"messages": [{"role": "user", "content": "hi"}]})
    assert status == 401 and b"sk-echo-123456789" in raw


def test_wrong_language_answers() -> None:
    with schema_llm_server(SchemaLLMState(wrong_language_rate=1.0)) as (url, state):
        answer = _ask(url, "Write in German.", response_format=_json_schema_format())
    assert detect_language(answer["body"]) not in (None, "DE")
    assert state.faults_served == {"wrong_language": 1}


def test_an_answer_finished_after_the_client_gave_up_is_billed_like_a_hosted_api() -> None:
    state = SchemaLLMState(fault_rate=1.0, faults=("timeout",), timeout_s=0.5)
    with schema_llm_server(state) as (url, _):
        connection = http.client.HTTPConnection(url.split("/")[2], timeout=0.1)
        body = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
        connection.request("POST", "/v1/chat/completions", body=body)
        with pytest.raises(TimeoutError):
            connection.getresponse()
        connection.close()
        time.sleep(0.8)
    assert state.faults_served == {"timeout": 1}
    assert (state.requests, state.billed_calls) == (1, 1)


def test_it_serves_one_model_and_lists_it() -> None:
    with schema_llm_server(SchemaLLMState(model="acme/support-7b")) as (url, state):
        with urllib.request.urlopen(f"{url}/models") as response:
            listed = json.loads(response.read())
        status, raw = _post(url, {"messages": [{"role": "user", "content": "hi"}]}, model="x")
    assert [model["id"] for model in listed["data"]] == ["acme/support-7b"]
    assert status == 404 and b"does not exist" in raw
    assert state.billed_calls == 0


def test_it_runs_as_a_process_of_its_own() -> None:
    command = [sys.executable, "-m", "ticket_assets_tests.schema_llm_server", "--port", "0"]
    child = subprocess.Popen([*command, "--seed", "1"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        answer = _ask(url, "Answer in English.", response_format=_json_schema_format())
        assert answer["queue"] in QUEUES
    finally:
        child.terminate()
        child.wait(timeout=10)


# --- structured_output: what reaches the server ------------------------------------------------


def _complete(provider: LiteLLMProvider, model: ModelConfig) -> str:
    """One call as the engine makes it: the schema in the prompt, and in response_format
    where the setting says so."""
    instructions = SINGLE_INSTRUCTIONS.format(schema=json.dumps(SCHEMA))
    messages = [
        {"role": "system", "content": f"Write in German.\n\n{instructions}"},
        {"role": "user", "content": "The printer is offline."},
    ]
    response_format = provider.response_format(model, SCHEMA, "TicketAnswer")
    reply = asyncio.run(
        provider.acomplete(
            model, messages, response_format, seed=1, request_id="r1", on_send=lambda: None
        )
    )
    return reply.text


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"model": "openai/gpt-4o-mini"}, "json_schema"),  # litellm knows it supports it
        ({"model": "openai/acme-7b"}, "json_object"),  # litellm knows nothing of it
        ({"model": "openai/acme-7b", "api_base": "http://h/v1"}, "json_schema"),
        ({"model": "hosted_vllm/acme-7b", "api_base": "http://h/v1"}, "json_schema"),
        ({"model": "openai/acme-7b", "structured_output": "json_schema"}, "json_schema"),
        (
            {
                "model": "openai/gpt-4o-mini",
                "api_base": "http://h/v1",
                "structured_output": "json_object",
            },
            "json_object",
        ),
    ],
)
def test_structured_output_setting(settings: dict[str, Any], expected: str) -> None:
    model = ModelConfig(**settings)
    assert LiteLLMProvider().response_format(model, SCHEMA, "X")["type"] == expected


@pytest.mark.parametrize("name", ["openai/acme-7b", "hosted_vllm/acme-7b"])
def test_litellm_passes_the_json_schema_to_the_server(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """litellm says these models lack response-schema support, and drop_params is on: the
    schema must reach the server all the same."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000")
    with schema_llm_server() as (url, state):
        text = _complete(remote_provider(), ModelConfig(model=name, api_base=url))
    assert state.response_formats == ["json_schema"]
    assert json.loads(text)["queue"] in QUEUES


def test_a_server_rejecting_json_schema_gets_json_object_from_then_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = LiteLLMProvider()
    with schema_llm_server(SchemaLLMState(reject_json_schema=True)) as (url, state):
        model = ModelConfig(model="hosted_vllm/acme-7b", api_base=url)
        with caplog.at_level(logging.WARNING, logger=ADAPTER_LOGGER):
            first, second = _complete(provider, model), _complete(provider, model)
        strict = model.model_copy(update={"structured_output": "json_schema"})
        with pytest.raises(PermanentProviderError, match="json_schema"):
            _complete(provider, strict)  # asked for explicitly: no silent fallback
    assert state.response_formats == ["json_schema", "json_object", "json_object", "json_schema"]
    assert json.loads(first)["queue"] in QUEUES and json.loads(second)["queue"] in QUEUES
    warnings = [r.getMessage() for r in caplog.records if r.name == ADAPTER_LOGGER]
    assert len(warnings) == 1 and "rejected response_format json_schema" in warnings[0]

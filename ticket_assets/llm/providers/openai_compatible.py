"""OpenAI-compatible chat completions on our own lean HTTP client: OpenAI, vLLM
(`hosted_vllm/`), OpenRouter, Together, Ollama, LM Studio, llama.cpp and any other endpoint
of that protocol (routes.py says which models come here).

litellm plus the OpenAI SDK cost about 4 ms of CPU per call (building SDK objects, its
logging hooks, httpx over aiohttp); this path costs a fraction of that: one pooled aiohttp
session per event loop, the request body joined from cached bytes (the model's fixed fields
and each schema's `response_format` are serialized once), the answer parsed straight into a
small pydantic model with `model_validate_json`. The key is read from the environment at
each call (a dict lookup), kept only in the cached `Authorization` header, and never logged:
every message is scrubbed with `redact`. Errors are classified in openai_errors.py exactly as
the litellm path classifies litellm's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import cache
from typing import Any

import aiohttp
from aiohttp.payload import BytesPayload
from pydantic import BaseModel, ValidationError

from ticket_assets.config import ModelConfig
from ticket_assets.llm.providers.endpoints import StructuredOutput
from ticket_assets.llm.providers.openai_errors import (
    SchemaRejected,
    classify_exception,
    classify_status,
    malformed,
)
from ticket_assets.llm.providers.routes import Route, openai_route
from ticket_assets.llm.types import ProviderReply

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Client-Request-Id"
# Distinct response formats kept serialized; a node has one or two, grouped calls one each.
_MAX_FORMATS = 256
_JSON_OBJECT = {"type": "json_object"}


class _Details(BaseModel):
    cached_tokens: int | None = 0


class _Usage(BaseModel):
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    prompt_tokens_details: _Details | None = None


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message


class _Completion(BaseModel):
    """The fields of a chat.completion we read; the rest of the body is skipped unparsed."""

    choices: list[_Choice]
    usage: _Usage | None = None


class _AnnouncedBody(BytesPayload):
    """The request body, which runs `on_send` (the paid-call journal) as it is written.

    aiohttp buffers the request line and headers in `ClientRequest.send`, then writes them
    together with a body this small in one `transport.write` from this method (a task of its
    own, started after `send` returns: a hook on `send` ran a loop iteration early, so a
    process killed in between had journaled a request the server never got). Here the entry
    is committed, then `super().write_with_length` reaches `transport.write` without giving
    the loop a turn (no compression, no tracing), and the selector transport hands the bytes
    to the kernel at once (`sock.send`); the kernel delivers them even if the process dies
    the next instant. So "journaled" equals "the server received the whole request" except
    for the few microseconds between the commit and that `send` call. Journaling after the
    write instead would turn that window into a billed call missing from the ledger.
    """

    def __init__(self, body: bytes, on_send: Callable[[], None]) -> None:
        super().__init__(body, content_type="application/json")
        self._on_send = on_send

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        self._on_send()
        await super().write_with_length(writer, content_length)


async def _closed_with_the_loop(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    """Suspended once started; `asyncio.run` closes it (and so the session) as the loop
    shuts down, so no connection outlives the loop that opened it."""
    try:
        yield
    finally:
        await session.close()


@cache
def _supports_schema(model: str) -> bool:
    """Whether litellm's model map says `model` takes a JSON schema (only asked for models
    without api_base and `structured_output: auto`, so litellm is imported only for them)."""
    import litellm

    return bool(litellm.supports_response_schema(model))


@cache
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


class OpenAICompatibleProvider:
    """`acomplete` performs one chat completion and returns text plus reported usage."""

    def __init__(self) -> None:
        self._structured = StructuredOutput(_supports_schema, log)
        self._sessions: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, AsyncIterator[None]]
        ] = weakref.WeakKeyDictionary()
        # id(response_format) -> (the dict, kept alive so the id stays its own; its JSON).
        self._formats: dict[int, tuple[Mapping[str, Any], bytes]] = {}
        # (model, api_base, structured, schema name, id(schema)) -> (schema, response_format).
        self._format_of: dict[tuple[Any, ...], tuple[Mapping[str, Any], dict]] = {}
        # (model name, temperature, seed) -> the body's opening bytes.
        self._heads: dict[tuple[str, float, int], bytes] = {}
        self._authorization: dict[tuple[str, str], str] = {}  # (variable, key) -> header

    def response_format(self, model: ModelConfig, schema: Mapping[str, Any], name: str) -> dict:
        """The same dict for the same schema (planning caches schemas per output model), so
        its JSON is serialized once, not per call."""
        mode = self._structured.uses_json_schema(model)
        key = (model.model, model.api_base, mode, name, id(schema))
        known = self._format_of.get(key)
        if known is not None and known[0] is schema:
            return known[1]
        if len(self._format_of) >= _MAX_FORMATS:
            self._format_of.clear()
        response_format = self._structured.response_format(model, schema, name)
        self._format_of[key] = (schema, response_format)
        return response_format

    async def acomplete(
        self,
        model: ModelConfig,
        messages: Sequence[Mapping[str, str]],
        response_format: Mapping[str, Any],
        seed: int,
        request_id: str,
        on_send: Callable[[], None],
        on_headers: Callable[[Mapping[str, str]], None] | None = None,
    ) -> ProviderReply:
        """`request_id` goes out as the X-Client-Request-Id header, which providers log: a
        ledger row can be matched with the provider's record of the request. `on_send` runs
        as the request is written (again if it is sent again); `on_headers` gets every
        answer's headers (rate-limit figures for the throttle)."""
        route = openai_route(model.model, model.api_base)
        assert route is not None, f"{model.model} is not an OpenAI-compatible model"
        call = (route, model, messages, seed, request_id, on_send, on_headers)
        try:
            return await self._post(*call, response_format)
        except SchemaRejected as rejected:
            if not self._structured.rejected(model, response_format, rejected.text):
                raise rejected.error from None
        return await self._post(*call, _JSON_OBJECT)

    async def _post(
        self,
        route: Route,
        model: ModelConfig,
        messages: Sequence[Mapping[str, str]],
        seed: int,
        request_id: str,
        on_send: Callable[[], None],
        on_headers: Callable[[Mapping[str, str]], None] | None,
        response_format: Mapping[str, Any],
    ) -> ProviderReply:
        body = self._body(route, model, messages, response_format, seed)
        headers = {REQUEST_ID_HEADER: request_id}
        authorization = self._authorization_for(route)
        if authorization is not None:
            headers["Authorization"] = authorization
        session = await self._session()
        try:
            async with session.post(
                route.url,
                data=_AnnouncedBody(body, on_send),
                headers=headers,
                timeout=_timeout(model.timeout_s),
            ) as response:
                data = await response.read()
                status = response.status
                answer_headers = response.headers
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise classify_exception(error, model) from None
        if on_headers is not None:
            on_headers(answer_headers)
        if status != 200:
            raise classify_status(status, data, answer_headers, model, response_format)
        try:
            completion = _Completion.model_validate_json(data)
        except ValidationError:
            raise malformed(model, data) from None
        usage = completion.usage or _Usage()
        details = usage.prompt_tokens_details
        return ProviderReply(
            text=(completion.choices[0].message.content or "") if completion.choices else "",
            input_tokens=usage.prompt_tokens or 0,
            output_tokens=usage.completion_tokens or 0,
            cached_tokens=(details.cached_tokens or 0) if details else 0,
        )

    def _body(
        self,
        route: Route,
        model: ModelConfig,
        messages: Sequence[Mapping[str, str]],
        response_format: Mapping[str, Any],
        seed: int,
    ) -> bytes:
        """The JSON body, joined from cached bytes and the call's own messages."""
        head_key = (route.name, model.temperature, seed)
        head = self._heads.get(head_key)
        if head is None:
            fixed = {"model": route.name, "temperature": model.temperature, "seed": seed}
            head = json.dumps(fixed).encode()[:-1]  # without its closing brace
            self._heads[head_key] = head
        known = self._formats.get(id(response_format))
        if known is None or known[0] is not response_format:
            if len(self._formats) >= _MAX_FORMATS:
                self._formats.clear()
            known = (response_format, json.dumps(response_format, ensure_ascii=False).encode())
            self._formats[id(response_format)] = known
        return b"".join(
            (
                head,
                b',"max_tokens":%d,"response_format":' % model.max_tokens,
                known[1],
                b',"messages":',
                json.dumps(messages, ensure_ascii=False).encode(),
                b"}",
            )
        )

    def _authorization_for(self, route: Route) -> str | None:
        """`Bearer <key>` from the first of the route's variables that is set, or None (a
        self-hosted server without keys). Read each call, so a changed key is used at once."""
        for variable in route.key_variables:
            key = os.environ.get(variable)
            if key:
                header = self._authorization.get((variable, key))
                if header is None:
                    header = self._authorization[(variable, key)] = f"Bearer {key}"
                return header
        return None

    async def _session(self) -> aiohttp.ClientSession:
        """This event loop's session: one connection pool, kept while the loop runs."""
        loop = asyncio.get_running_loop()
        known = self._sessions.get(loop)
        if known is not None and not known[0].closed:
            return known[0]
        # No cap on connections: the throttle decides how many calls are in flight.
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        session = aiohttp.ClientSession(connector=connector)
        closer = _closed_with_the_loop(session)
        await closer.__anext__()
        self._sessions[loop] = (session, closer)
        return session

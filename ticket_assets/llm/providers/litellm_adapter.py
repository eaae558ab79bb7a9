"""Remote models through litellm: providers whose protocol is not OpenAI's (Anthropic,
Gemini, Bedrock, ...); OpenAI-compatible endpoints take the leaner `openai_compatible.py`.

litellm is imported lazily (it costs seconds) and reads API keys from the environment
itself, so keys never pass through our objects; error messages are scrubbed of any key
value all the same. Retries are ours (see throttle.py), so litellm's and the OpenAI SDK's
own retries are switched off. Fatal answers are told apart as in endpoints.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from functools import cache
from typing import Any

from ticket_assets.config import ModelConfig, RunConfig
from ticket_assets.core.secrets import SECRET_NAME, redact
from ticket_assets.llm.providers.endpoints import (
    MAX_MESSAGE,
    MAX_SERVER_DETAIL,
    MODEL_NOT_FOUND,
    StructuredOutput,
    connection_failure,
    refused_key,
    unknown_model,
    unreachable,
)
from ticket_assets.llm.types import (
    EndpointError,
    PermanentProviderError,
    ProviderReply,
    ProviderTimeout,
    RateLimited,
    TransientProviderError,
)

__all__ = ["LiteLLMProvider", "connection_failure", "missing_credentials"]
log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Client-Request-Id"
# What to do the moment the current call's request leaves (the online processor journals it).
_on_send: ContextVar[Callable[[], None] | None] = ContextVar("on_send", default=None)


def _announce_sends() -> None:
    """Run the current call's `_on_send` just as its request is written to the connection.
    litellm sends through httpx, by default over its aiohttp transport; neither offers a hook
    across clients, so the method that writes a request is wrapped. Journaling any earlier
    would count a call that a killed process prepared but never sent."""
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    if AsyncHTTPHandler.should_use_aiohttp_transport():
        import aiohttp

        # `send` gets a connection and writes the request without waiting in between.
        _wrap(aiohttp.ClientRequest, "send")
    else:
        import httpx

        _wrap(httpx.AsyncClient, "send")


def _wrap(owner: type, name: str) -> None:
    original = getattr(owner, name)
    if getattr(original, "announces_sends", False):
        return

    async def announcing(self: Any, *args: Any, **kwargs: Any) -> Any:
        hook = _on_send.get()
        if hook is not None:
            hook()
        return await original(self, *args, **kwargs)

    announcing.announces_sends = True  # type: ignore[attr-defined]
    setattr(owner, name, announcing)


def missing_credentials(config: RunConfig, nodes: Sequence[str]) -> list[str]:
    """One line per remote model (of `nodes`) whose provider needs a key the environment
    lacks."""
    import litellm

    nodes_by_model: dict[str, list[str]] = {}
    for node in nodes:
        nodes_by_model.setdefault(config.model_for(node).model, []).append(node)
    problems = []
    for model, nodes in nodes_by_model.items():
        required = litellm.validate_environment(model).get("missing_keys") or []
        keys = [name for name in required if SECRET_NAME.search(name)]
        if keys:
            problems.append(
                f"environment: {model} (nodes {', '.join(nodes)}) needs {' or '.join(keys)}; "
                f"set it before the run (export {keys[0]}=...)"
            )
    return problems


def _retry_after(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _server_detail(error: Exception) -> str:
    """The server's own message, short and scrubbed: some servers echo the key they refused."""
    text = str(error).splitlines()[0] if str(error) else ""
    text = text.rsplit("Exception - ", 1)[-1]  # litellm's "<Provider>Exception - <body>"
    try:
        body = json.loads(text)
        text = str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        pass
    return redact(text)[:MAX_SERVER_DETAIL]


def _refused_endpoint(error: Exception, model: ModelConfig) -> EndpointError | None:
    """A refused key or an unknown model: the same answer for every call, so it is fatal."""
    import litellm

    answer = f"HTTP {getattr(error, 'status_code', '?')} {type(error).__name__}"
    answer += f": {_server_detail(error)}"
    if isinstance(error, litellm.AuthenticationError | litellm.PermissionDeniedError):
        return refused_key(model, answer)
    unknown = isinstance(error, litellm.NotFoundError) or (
        isinstance(error, litellm.BadRequestError) and MODEL_NOT_FOUND.search(str(error))
    )
    return unknown_model(model, answer) if unknown else None


def _classify(error: Exception, model: ModelConfig) -> Exception:
    import litellm

    detail = redact(str(error)).splitlines()[0] if str(error) else ""
    message = f"{model.model}: {type(error).__name__}: {detail}"[:MAX_MESSAGE]
    if isinstance(error, litellm.RateLimitError):
        return RateLimited(message, _retry_after(error))
    fatal = _refused_endpoint(error, model) or unreachable(error, model, message)
    if fatal is not None:
        return fatal
    if isinstance(error, litellm.Timeout):
        return ProviderTimeout(message)
    transient = (
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
    )
    if isinstance(error, transient):
        return TransientProviderError(message)
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and status >= 500:
        return TransientProviderError(message)
    return PermanentProviderError(message)


class LiteLLMProvider:
    """`acomplete` performs one chat completion and returns text plus reported usage."""

    def __init__(self) -> None:
        import litellm

        litellm.suppress_debug_info = True
        litellm.drop_params = True  # e.g. `seed` for providers without it
        self._litellm = litellm
        _announce_sends()
        # A per-call lookup in litellm's model map otherwise.
        self._structured = StructuredOutput(cache(litellm.supports_response_schema), log)

    def response_format(self, model: ModelConfig, schema: Mapping[str, Any], name: str) -> dict:
        return self._structured.response_format(model, schema, name)

    def _rejected_schema(
        self, error: Exception, model: ModelConfig, response_format: Mapping[str, Any]
    ) -> bool:
        """True (once warned) when an `auto` model's server answered 400 to json_schema."""
        return isinstance(error, self._litellm.BadRequestError) and self._structured.rejected(
            model, response_format, str(error)
        )

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
        as the request leaves (again if it is sent again); `on_headers` gets the answer's
        headers as litellm passes them on (rate-limit figures for the throttle)."""
        token = _on_send.set(on_send)
        try:
            try:
                return await self._complete(
                    model, messages, response_format, seed, request_id, on_headers
                )
            except Exception as error:  # litellm raises many provider-specific types
                if not self._rejected_schema(error, model, response_format):
                    raise _classify(error, model) from None
            try:
                json_mode = {"type": "json_object"}
                return await self._complete(
                    model, messages, json_mode, seed, request_id, on_headers
                )
            except Exception as error:
                raise _classify(error, model) from None
        finally:
            _on_send.reset(token)

    async def _complete(
        self,
        model: ModelConfig,
        messages: Sequence[Mapping[str, str]],
        response_format: Mapping[str, Any],
        seed: int,
        request_id: str,
        on_headers: Callable[[Mapping[str, str]], None] | None,
    ) -> ProviderReply:
        response = await self._litellm.acompletion(
            model=model.model,
            messages=[dict(m) for m in messages],
            max_tokens=model.max_tokens,
            temperature=model.temperature,
            api_base=model.api_base,
            response_format=dict(response_format),
            seed=seed,
            timeout=model.timeout_s,
            num_retries=0,
            max_retries=0,
            extra_headers={REQUEST_ID_HEADER: request_id},
        )
        if on_headers is not None:
            hidden = getattr(response, "_hidden_params", None) or {}
            on_headers(hidden.get("additional_headers") or {})
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        details = getattr(usage, "prompt_tokens_details", None)
        return ProviderReply(
            text=text,
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cached_tokens=int(getattr(details, "cached_tokens", 0) or 0),
        )

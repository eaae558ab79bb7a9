"""Remote models through litellm: the HTTP layer under the throttle.

litellm is imported lazily (it costs seconds) and reads API keys from the environment
itself, so keys never pass through our objects; error messages are scrubbed of any key
value all the same. Retries are ours (see throttle.py), so litellm's and the OpenAI SDK's
own retries are switched off.

What no retry can fix stops the node at once with one line naming the endpoint and the fix: a
refused key, an unknown model (EndpointError), and an endpoint that refuses connections or
does not resolve (UnreachableError, fatal after a few in a row; see throttle.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from ticket_assets.config import ModelConfig, RunConfig
from ticket_assets.core.secrets import SECRET_NAME, redact
from ticket_assets.llm.types import (
    EndpointError,
    PermanentProviderError,
    ProviderReply,
    ProviderTimeout,
    RateLimited,
    TransientProviderError,
    UnreachableError,
)

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


_MAX_MESSAGE = 300
# What the server said, quoted in a fatal error: enough for "invalid key" vs "no access".
_MAX_SERVER_DETAIL = 120
# Some servers answer 400 rather than 404 to a model they do not serve.
_MODEL_NOT_FOUND = re.compile(r"model\b.{0,80}\b(not found|does not exist)", re.IGNORECASE)
# A 400 that rejects the json_schema response format (older or minimal servers).
_REJECTS_SCHEMA = re.compile(r"response_format|json_schema", re.IGNORECASE)
# The same causes as they read in messages, for clients that do not chain the OS error.
_REFUSED_TEXT = re.compile(r"connection refused|connect call failed", re.IGNORECASE)
_UNRESOLVED_TEXT = re.compile(
    r"name or service not known|nodename nor servname|getaddrinfo failed|name resolution",
    re.IGNORECASE,
)
# Providers whose key variable is not <PROVIDER>_API_KEY.
_KEY_VARIABLES = {
    "together_ai": "TOGETHERAI_API_KEY",
    "text-completion-openai": "OPENAI_API_KEY",
    "bedrock": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
}


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


def key_variable(model: str) -> str:
    """The environment variable litellm reads the model's key from (litellm names it only when
    it is missing; a refused key is present, so the provider's conventional name)."""
    provider = model.split("/", 1)[0]
    return _KEY_VARIABLES.get(provider, f"{provider.upper()}_API_KEY")


def _endpoint(model: ModelConfig) -> str:
    """`model at api_base`, without any user, password or query the URL may carry."""
    if not model.api_base:
        return model.model
    url = urlsplit(model.api_base)
    host = url.hostname or ""
    if url.port:
        host = f"{host}:{url.port}"
    return redact(f"{model.model} at {url.scheme}://{host}{url.path}")


def connection_failure(error: BaseException) -> str | None:
    """'connection refused' or 'host name does not resolve' when that is the root cause."""
    import socket

    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host name does not resolve"
        cause = cause.__cause__ or cause.__context__
    if _REFUSED_TEXT.search(str(error)):
        return "connection refused"
    if _UNRESOLVED_TEXT.search(str(error)):
        return "host name does not resolve"
    return None


def _unreachable(error: Exception, model: ModelConfig, message: str) -> UnreachableError | None:
    failure = connection_failure(error)
    if failure is None:
        return None
    if not model.api_base:
        hint = "check the network connection"
    elif failure == "connection refused":
        hint = "is the server running? Check api_base under models in the config, or --api-base"
    else:
        hint = "check the host in api_base under models in the config, or --api-base"
    return UnreachableError(message, summary=f"{_endpoint(model)}: {failure}", hint=hint)


def _server_detail(error: Exception) -> str:
    """The server's own message, short and scrubbed: some servers echo the key they refused."""
    text = str(error).splitlines()[0] if str(error) else ""
    text = text.rsplit("Exception - ", 1)[-1]  # litellm's "<Provider>Exception - <body>"
    try:
        body = json.loads(text)
        text = str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        pass
    return redact(text)[:_MAX_SERVER_DETAIL]


def _refused_endpoint(error: Exception, model: ModelConfig) -> EndpointError | None:
    """A refused key or an unknown model: the same answer for every call, so it is fatal."""
    import litellm

    answer = f"HTTP {getattr(error, 'status_code', '?')} {type(error).__name__}"
    answer += f": {_server_detail(error)}"
    if isinstance(error, litellm.AuthenticationError | litellm.PermissionDeniedError):
        return EndpointError(
            f"{_endpoint(model)}: the API key was refused ({answer}); put a valid key in "
            f"{key_variable(model.model)}"
        )
    unknown_model = isinstance(error, litellm.NotFoundError) or (
        isinstance(error, litellm.BadRequestError) and _MODEL_NOT_FOUND.search(str(error))
    )
    if unknown_model:
        return EndpointError(
            f"{_endpoint(model)}: model not found ({answer}); check the model name (models in "
            "the config, or --model) and that api_base is the server's /v1 URL"
        )
    return None


def _classify(error: Exception, model: ModelConfig) -> Exception:
    import litellm

    detail = redact(str(error)).splitlines()[0] if str(error) else ""
    message = f"{model.model}: {type(error).__name__}: {detail}"[:_MAX_MESSAGE]
    if isinstance(error, litellm.RateLimitError):
        return RateLimited(message, _retry_after(error))
    fatal = _refused_endpoint(error, model) or _unreachable(error, model, message)
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
        self._supports_schema = cache(litellm.supports_response_schema)
        # (model, api_base) whose server rejected json_schema: json_object from then on.
        self._schema_rejected: set[tuple[str, str | None]] = set()

    def response_format(self, model: ModelConfig, schema: Mapping[str, Any], name: str) -> dict:
        if self._uses_json_schema(model):
            return {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": dict(schema), "strict": False},
            }
        return {"type": "json_object"}

    def _uses_json_schema(self, model: ModelConfig) -> bool:
        """`auto`: where litellm knows the model supports it, and on any api_base (litellm
        knows nothing of self-hosted models, and vLLM, llama.cpp, Ollama, LM Studio and TGI
        all accept it), until that server rejects it."""
        if model.structured_output != "auto":
            return model.structured_output == "json_schema"
        if (model.model, model.api_base) in self._schema_rejected:
            return False
        return model.api_base is not None or self._supports_schema(model.model)

    def _rejected_schema(
        self, error: Exception, model: ModelConfig, response_format: Mapping[str, Any]
    ) -> bool:
        """True (once warned) when an `auto` model's server answered 400 to json_schema."""
        if not (
            model.structured_output == "auto"
            and response_format.get("type") == "json_schema"
            and isinstance(error, self._litellm.BadRequestError)
            and _REJECTS_SCHEMA.search(str(error))
        ):
            return False
        endpoint = (model.model, model.api_base)
        if endpoint not in self._schema_rejected:
            self._schema_rejected.add(endpoint)
            log.warning(
                "%s rejected response_format json_schema; using json_object for it from now "
                "on (set structured_output: json_object to skip the attempt)",
                _endpoint(model),
            )
        return True

    async def acomplete(
        self,
        model: ModelConfig,
        messages: Sequence[Mapping[str, str]],
        response_format: Mapping[str, Any],
        seed: int,
        request_id: str,
        on_send: Callable[[], None],
    ) -> ProviderReply:
        """`request_id` goes out as the X-Client-Request-Id header, which providers log: a
        ledger row can be matched with the provider's record of the request. `on_send` runs
        as the request leaves (again if it is sent again)."""
        token = _on_send.set(on_send)
        try:
            try:
                return await self._complete(model, messages, response_format, seed, request_id)
            except Exception as error:  # litellm raises many provider-specific types
                if not self._rejected_schema(error, model, response_format):
                    raise _classify(error, model) from None
            try:
                json_mode = {"type": "json_object"}
                return await self._complete(model, messages, json_mode, seed, request_id)
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
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        details = getattr(usage, "prompt_tokens_details", None)
        return ProviderReply(
            text=text,
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cached_tokens=int(getattr(details, "cached_tokens", 0) or 0),
        )

"""What both remote paths (litellm, and our own OpenAI-compatible client) say the same way:
which endpoint a model is, where its key lives, the fatal answers no retry can fix, and
whether a model is sent its JSON schema as `response_format`.

What no retry can fix stops the node at once with one line naming the endpoint and the fix: a
refused key, an unknown model (EndpointError), and an endpoint that refuses connections or
does not resolve (UnreachableError, fatal after a few in a row; see throttle.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ticket_assets.config import ModelConfig
from ticket_assets.core.secrets import redact
from ticket_assets.llm.types import EndpointError, UnreachableError

MAX_MESSAGE = 300
# What the server said, quoted in a fatal error: enough for "invalid key" vs "no access".
MAX_SERVER_DETAIL = 120
# Some servers answer 400 rather than 404 to a model they do not serve.
MODEL_NOT_FOUND = re.compile(r"model\b.{0,80}\b(not found|does not exist)", re.IGNORECASE)
# A 400 that rejects the json_schema response format (older or minimal servers).
REJECTS_SCHEMA = re.compile(r"response_format|json_schema", re.IGNORECASE)
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


def key_variable(model: str) -> str:
    """The environment variable the model's key is read from (named in the error when a key
    is refused: it is present, so the provider's conventional name)."""
    provider = model.split("/", 1)[0]
    return _KEY_VARIABLES.get(provider, f"{provider.upper()}_API_KEY")


def endpoint(model: ModelConfig) -> str:
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
        # aiohttp keeps the OS error beside the chain rather than in it.
        os_error = getattr(cause, "os_error", None)
        if isinstance(os_error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(os_error, socket.gaierror):
            return "host name does not resolve"
        cause = cause.__cause__ or cause.__context__
    if _REFUSED_TEXT.search(str(error)):
        return "connection refused"
    if _UNRESOLVED_TEXT.search(str(error)):
        return "host name does not resolve"
    return None


def unreachable(error: BaseException, model: ModelConfig, message: str) -> UnreachableError | None:
    failure = connection_failure(error)
    if failure is None:
        return None
    if not model.api_base:
        hint = "check the network connection"
    elif failure == "connection refused":
        hint = "is the server running? Check api_base under models in the config, or --api-base"
    else:
        hint = "check the host in api_base under models in the config, or --api-base"
    return UnreachableError(message, summary=f"{endpoint(model)}: {failure}", hint=hint)


def refused_key(model: ModelConfig, answer: str) -> EndpointError:
    return EndpointError(
        f"{endpoint(model)}: the API key was refused ({answer}); put a valid key in "
        f"{key_variable(model.model)}"
    )


def unknown_model(model: ModelConfig, answer: str) -> EndpointError:
    return EndpointError(
        f"{endpoint(model)}: model not found ({answer}); check the model name (models in "
        "the config, or --model) and that api_base is the server's /v1 URL"
    )


class StructuredOutput:
    """Whether a model is sent its JSON schema as `response_format` (json_schema) or only
    asked for JSON (json_object). `auto`: where litellm knows the model supports it
    (`supports_schema`), and on any api_base (litellm knows nothing of self-hosted models, and
    vLLM, llama.cpp, Ollama, LM Studio and TGI all accept it), until that server rejects it."""

    def __init__(self, supports_schema: Callable[[str], bool], log: logging.Logger) -> None:
        self._supports_schema = supports_schema
        self._log = log
        # (model, api_base) whose server rejected json_schema: json_object from then on.
        self._rejected: set[tuple[str, str | None]] = set()

    def response_format(self, model: ModelConfig, schema: Mapping[str, Any], name: str) -> dict:
        if self.uses_json_schema(model):
            return {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": dict(schema), "strict": False},
            }
        return {"type": "json_object"}

    def uses_json_schema(self, model: ModelConfig) -> bool:
        if model.structured_output != "auto":
            return model.structured_output == "json_schema"
        if (model.model, model.api_base) in self._rejected:
            return False
        return model.api_base is not None or self._supports_schema(model.model)

    def rejected(self, model: ModelConfig, response_format: Mapping[str, Any], text: str) -> bool:
        """True (once warned) when an `auto` model's server answered 400 `text` to
        json_schema: the caller asks again with json_object."""
        if not (
            model.structured_output == "auto"
            and response_format.get("type") == "json_schema"
            and REJECTS_SCHEMA.search(text)
        ):
            return False
        key = (model.model, model.api_base)
        if key not in self._rejected:
            self._rejected.add(key)
            self._log.warning(
                "%s rejected response_format json_schema; using json_object for it from now "
                "on (set structured_output: json_object to skip the attempt)",
                endpoint(model),
            )
        return True

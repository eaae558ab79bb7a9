"""HTTP answers and client errors of OpenAI-compatible endpoints as our ProviderError kinds,
told apart as the litellm path tells litellm's exceptions apart (same classes, same messages):
401/403 refused key and 404 unknown model are fatal, connection refused or a host that does
not resolve is unreachable, 429 is a rate limit (with its Retry-After), 408, 5xx, dropped
connections and a body that is not a chat completion are transient, other 4xx permanent.
Every message is scrubbed of keys (some servers echo the key they refused)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from ticket_assets.config import ModelConfig
from ticket_assets.core.secrets import redact
from ticket_assets.llm.providers.endpoints import (
    MAX_MESSAGE,
    MAX_SERVER_DETAIL,
    MODEL_NOT_FOUND,
    REJECTS_SCHEMA,
    refused_key,
    unknown_model,
    unreachable,
)
from ticket_assets.llm.types import (
    PermanentProviderError,
    ProviderTimeout,
    RateLimited,
    TransientProviderError,
)

# The names the OpenAI SDK and litellm give these statuses, so messages read the same.
_NAMES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    408: "Timeout",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
}


class SchemaRejected(Exception):
    """A 400 refusing the json_schema response format: the provider may ask again with
    json_object (`text` is the server's message), else it raises `error`."""

    def __init__(self, text: str, error: PermanentProviderError) -> None:
        super().__init__(text)
        self.text = text
        self.error = error


def _server_detail(data: bytes) -> str:
    """The server's own message (its error.message when the body is OpenAI's error object),
    first line, scrubbed."""
    text = data.decode("utf-8", "replace")
    with contextlib.suppress(ValueError, KeyError, TypeError):
        text = str(json.loads(text)["error"]["message"])
    return redact(text.splitlines()[0]) if text.strip() else ""


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from Retry-After (or OpenAI's retry-after-ms); None when absent or a date."""
    for name, scale in (("retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def classify_status(
    status: int,
    data: bytes,
    headers: Mapping[str, str],
    model: ModelConfig,
    response_format: Mapping[str, Any],
) -> Exception:
    name = _NAMES.get(status, "APIError")
    detail = _server_detail(data)
    message = f"{model.model}: {name}: HTTP {status}: {detail}"[:MAX_MESSAGE]
    answer = f"HTTP {status} {name}: {detail[:MAX_SERVER_DETAIL]}"
    if status == 429:
        return RateLimited(message, retry_after(headers))
    if status in (401, 403):
        return refused_key(model, answer)
    if status == 404 or (status == 400 and MODEL_NOT_FOUND.search(detail)):
        return unknown_model(model, answer)
    rejects_schema = response_format.get("type") == "json_schema" and REJECTS_SCHEMA.search(detail)
    if status == 400 and rejects_schema:
        return SchemaRejected(detail, PermanentProviderError(message))
    if status == 408:
        return ProviderTimeout(message)
    if status >= 500:
        return TransientProviderError(message)
    return PermanentProviderError(message)


def classify_exception(error: BaseException, model: ModelConfig) -> Exception:
    """A request that got no HTTP answer: timed out, refused, unresolved, or dropped."""
    if isinstance(error, TimeoutError):
        return ProviderTimeout(f"{model.model}: Timeout: no answer within {model.timeout_s:g} s")
    detail = redact(str(error)).splitlines()[0] if str(error) else ""
    message = f"{model.model}: {type(error).__name__}: {detail}"[:MAX_MESSAGE]
    return unreachable(error, model, message) or TransientProviderError(message)


def malformed(model: ModelConfig, data: bytes) -> TransientProviderError:
    """A 200 whose body is not a chat completion (cut short, HTML from a proxy, ...)."""
    return TransientProviderError(
        f"{model.model}: malformed response: HTTP 200 with {len(data)} bytes that are not a "
        "chat completion"
    )

"""Remote models through litellm: the HTTP layer under the throttle.

litellm is imported lazily (it costs seconds) and reads API keys from the environment
itself, so keys never pass through our objects; error messages are scrubbed of any key
value all the same. Retries are ours (see throttle.py), so litellm's and the OpenAI SDK's
own retries are switched off.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from ticket_assets.config import ConfigError, ModelConfig, RunConfig
from ticket_assets.llm.types import (
    PermanentProviderError,
    ProviderReply,
    RateLimited,
    TransientProviderError,
)

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
_KEY_SHAPE = re.compile(r"\b(sk|rk|pk|key|tok)[-_][A-Za-z0-9_\-]{8,}")
_MAX_MESSAGE = 300


def redact(text: str) -> str:
    """Remove every secret-looking environment value and key-shaped token from `text`."""
    for name, value in os.environ.items():
        if value and len(value) >= 8 and _SECRET_NAME.search(name):
            text = text.replace(value, "***")
    return _KEY_SHAPE.sub("***", text)


def missing_credentials(config: RunConfig) -> list[str]:
    """One line per remote node whose provider needs a key the environment lacks."""
    import litellm

    problems = []
    for node in config.remote_nodes:
        model = config.model_for(node)
        required = litellm.validate_environment(model.model).get("missing_keys") or []
        keys = [name for name in required if _SECRET_NAME.search(name)]
        if keys:
            problems.append(
                f"node {node} uses {model.model}, which needs {' or '.join(keys)} in the "
                "environment"
            )
    return problems


def check_credentials(config: RunConfig) -> None:
    problems = missing_credentials(config)
    if problems:
        raise ConfigError("; ".join(problems))


def _retry_after(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _classify(error: Exception, model: str) -> Exception:
    import litellm

    detail = redact(str(error)).splitlines()[0] if str(error) else ""
    message = f"{model}: {type(error).__name__}: {detail}"[:_MAX_MESSAGE]
    if isinstance(error, litellm.RateLimitError):
        return RateLimited(message, _retry_after(error))
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
        # A per-call lookup in litellm's model map otherwise.
        self._supports_schema = cache(litellm.supports_response_schema)

    def response_format(self, model: ModelConfig, schema: Mapping[str, Any], name: str) -> dict:
        if self._supports_schema(model.model):
            return {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": dict(schema), "strict": False},
            }
        return {"type": "json_object"}

    async def acomplete(
        self,
        model: ModelConfig,
        messages: Sequence[Mapping[str, str]],
        response_format: Mapping[str, Any],
        seed: int,
    ) -> ProviderReply:
        try:
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
            )
        except Exception as error:  # litellm raises many provider-specific types
            raise _classify(error, model.model) from None
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        details = getattr(usage, "prompt_tokens_details", None)
        return ProviderReply(
            text=text,
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cached_tokens=int(getattr(details, "cached_tokens", 0) or 0),
        )

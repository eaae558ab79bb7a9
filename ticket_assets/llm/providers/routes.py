"""Which models speak OpenAI's chat-completions protocol, and so take our own client
(openai_compatible.py) rather than litellm: where their requests go, under which name, and
which environment variables hold their key (litellm's names, so a configured key works on
either path)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

# Provider prefix -> (base URL without api_base, or None when it needs one; key variables,
# first set wins).
_KNOWN: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "openai": ("https://api.openai.com/v1", ("OPENAI_API_KEY",)),
    "hosted_vllm": (None, ("HOSTED_VLLM_API_KEY",)),
    "openrouter": ("https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY", "OR_API_KEY")),
    "together_ai": (
        "https://api.together.xyz/v1",
        ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY"),
    ),
    # Ollama's OpenAI-compatible API lives under /v1 of the address litellm is given.
    "ollama": ("http://localhost:11434", ("OLLAMA_API_KEY",)),
    "ollama_chat": ("http://localhost:11434", ("OLLAMA_API_KEY",)),
    "lm_studio": ("http://localhost:1234/v1", ("LM_STUDIO_API_KEY",)),
    "llamafile": ("http://127.0.0.1:8080/v1", ("LLAMAFILE_API_KEY",)),
}
_UNDER_V1 = ("ollama", "ollama_chat")


@dataclass(frozen=True)
class Route:
    url: str  # the chat-completions URL
    name: str  # the model as the server knows it (without the provider prefix)
    key_variables: tuple[str, ...]


def _litellm_openai_compatible(provider: str) -> bool:
    """Providers litellm itself sends through its OpenAI-compatible code (Groq, DeepSeek,
    Fireworks, ...): asked only for a model with an api_base that the table above lacks."""
    import litellm

    return provider in litellm.openai_compatible_providers


@cache
def openai_route(model: str, api_base: str | None) -> Route | None:
    """The route of an OpenAI-compatible model, or None for models litellm serves."""
    if "/" not in model:
        return None
    provider, name = model.split("/", 1)
    known = _KNOWN.get(provider)
    if known is None:
        if api_base is None or not _litellm_openai_compatible(provider):
            return None
        known = (None, (f"{provider.upper()}_API_KEY",))
    default, variables = known
    base = api_base or default
    if provider == "openai" and api_base is None:
        base = os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or base
    if base is None:
        return None  # e.g. hosted_vllm without api_base: litellm says what is missing
    base = base.rstrip("/")
    if provider in _UNDER_V1 and not base.endswith("/v1"):
        base += "/v1"
    return Route(f"{base}/chat/completions", name, variables)

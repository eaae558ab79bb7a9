"""Providers: what answers a request, behind one protocol per kind.

- remote (`RemoteProvider`): one chat completion over HTTP. `remote_provider()` is the
  factory the processors use; per model it takes `openai_compatible.py` (our own lean
  aiohttp client) for OpenAI-compatible endpoints (routes.py) and `litellm_adapter.py` for
  every other litellm model string, so the engine never knows which;
- `openai_batch.py`: the OpenAI Batch API (upload, poll, collect, resumable);
- local (`local.LocalProvider`): in-process answers, one request at a time; `OfflineAdapter`
  wraps the deterministic offline responders (`ticket_assets.llm.offline`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from ticket_assets.llm.providers.routes import openai_route
from ticket_assets.llm.types import ProviderReply

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig
    from ticket_assets.llm.providers.litellm_adapter import LiteLLMProvider
    from ticket_assets.llm.providers.openai_compatible import OpenAICompatibleProvider


class RemoteProvider(Protocol):
    """A model client: the response format a model takes, and one completion."""

    def response_format(self, model: ModelConfig, schema: Mapping[str, Any], name: str) -> dict: ...

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
        """Raises ProviderError subclasses (types.py); runs `on_send` as the request leaves
        and `on_headers` with the answer's HTTP headers, where the client exposes them."""
        ...


class _ByModel:
    """The remote provider that hands each model to the path that serves it."""

    def __init__(self) -> None:
        self._lean: OpenAICompatibleProvider | None = None
        self._litellm: LiteLLMProvider | None = None

    def _for(self, model: ModelConfig) -> RemoteProvider:
        if openai_route(model.model, model.api_base) is not None:
            if self._lean is None:
                # aiohttp is imported with the first remote call, not by offline runs.
                from ticket_assets.llm.providers.openai_compatible import OpenAICompatibleProvider

                self._lean = OpenAICompatibleProvider()
            return self._lean
        if self._litellm is None:
            # Importing litellm takes seconds: only processes that need it pay.
            from ticket_assets.llm.providers.litellm_adapter import LiteLLMProvider

            self._litellm = LiteLLMProvider()
        return self._litellm

    def response_format(self, model: ModelConfig, schema: Mapping[str, Any], name: str) -> dict:
        return self._for(model).response_format(model, schema, name)

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
        provider = self._for(model)
        return await provider.acomplete(
            model, messages, response_format, seed, request_id, on_send, on_headers
        )


@cache
def remote_provider() -> RemoteProvider:
    """The process's one remote provider (it keeps what it learns about endpoints)."""
    return _ByModel()

"""Providers: what answers a request, behind one protocol per kind.

- remote (`RemoteProvider`): one chat completion over HTTP; `litellm_adapter.py` serves
  every litellm model string, `remote_provider()` is the factory the processors use;
- `openai_batch.py`: the OpenAI Batch API (upload, poll, collect, resumable);
- local (`local.LocalProvider`): in-process answers, one request at a time; `OfflineAdapter`
  wraps the deterministic offline responders (`ticket_assets.llm.offline`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from ticket_assets.llm.providers.litellm_adapter import LiteLLMProvider
from ticket_assets.llm.types import ProviderReply

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig


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
    ) -> ProviderReply:
        """Raises ProviderError subclasses (types.py); runs `on_send` as the request leaves."""
        ...


@cache
def remote_provider() -> RemoteProvider:
    """The process's one remote provider (it keeps what it learns about endpoints); building
    it imports litellm, which takes seconds, so only the first remote call pays that."""
    return LiteLLMProvider()

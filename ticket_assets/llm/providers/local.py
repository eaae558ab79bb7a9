"""Local providers: answers made in-process, one request at a time (offline, test doubles)."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any, Protocol

from ticket_assets.llm.offline import OfflineProvider
from ticket_assets.llm.types import LLMRequest

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig
    from ticket_assets.tables import Tables


class LocalAnswer(Protocol):
    content: Any
    input_tokens: int
    output_tokens: int
    cost_usd: float


class LocalProvider(Protocol):
    """A provider answering in-process, one request at a time (offline, test doubles)."""

    def complete(
        self, request: LLMRequest, model: ModelConfig, repair: str | None
    ) -> LocalAnswer: ...


# One provider per tables and seed in a process: the node steps of a run then share its
# drafts and renderings (paraphrase recognises the draft email_draft just wrote).
@functools.lru_cache(maxsize=4)
def shared_offline_provider(tables: Tables, seed: int) -> OfflineProvider:
    return OfflineProvider(tables, seed)


class _OfflineAnswer:
    __slots__ = ("content", "cost_usd", "input_tokens", "output_tokens")

    def __init__(self, content: dict[str, Any], input_tokens: int, output_tokens: int) -> None:
        self.content = content
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost_usd = 0.0


class OfflineAdapter:
    """The offline responders as a local provider; tokens estimated at 4 characters each."""

    def __init__(self, tables: Tables, seed: int) -> None:
        self._responder = shared_offline_provider(tables, seed)

    def complete(
        self, request: LLMRequest, model: ModelConfig, repair: str | None
    ) -> _OfflineAnswer:
        content = self._responder.respond(
            request.node, request.variables, request.output_model, request.offline_answer
        )
        prompt_chars = sum(len(m["content"]) for m in request.messages)
        output_chars = len(json.dumps(content, ensure_ascii=False))
        return _OfflineAnswer(content, prompt_chars // 4 + 1, output_chars // 4 + 1)

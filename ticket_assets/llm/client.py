"""The one LLM facade nodes talk to: routes each node to its provider, validates answers
into the node's output model (re-asking with the validation error), enforces per-call cost
limits and records every call in the ledger."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from ticket_assets.config import ModelConfig, RunConfig
from ticket_assets.llm.ledger import Ledger
from ticket_assets.llm.offline import OfflineProvider
from ticket_assets.llm.types import CallRecord, LLMOutputError, LLMRequest
from ticket_assets.tables import Tables

MAX_REPAIRS = 2


class CostLimitError(RuntimeError):
    """A single call cost more than `cost_limits.error`."""


class ProviderAnswer(Protocol):
    content: Any
    input_tokens: int
    output_tokens: int
    cost_usd: float


class Provider(Protocol):
    def complete(
        self, request: LLMRequest, model: ModelConfig, repair: str | None
    ) -> ProviderAnswer: ...


class _OfflineAnswer:
    __slots__ = ("content", "cost_usd", "input_tokens", "output_tokens")

    def __init__(self, content: dict[str, Any], input_tokens: int, output_tokens: int) -> None:
        self.content = content
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost_usd = 0.0


def estimate_tokens(text: str) -> int:
    """About four characters a token: good enough for free offline calls."""
    return max(1, len(text) // 4)


class OfflineAdapter:
    """Adapts the deterministic offline responders to the provider protocol."""

    def __init__(self, tables: Tables, seed: int) -> None:
        self._responder = OfflineProvider(tables, seed)

    def complete(
        self, request: LLMRequest, model: ModelConfig, repair: str | None
    ) -> _OfflineAnswer:
        content = self._responder.respond(request.node, request.variables)
        prompt_chars = sum(len(m["content"]) for m in request.messages)
        output_chars = len(json.dumps(content, ensure_ascii=False))
        return _OfflineAnswer(content, prompt_chars // 4 + 1, output_chars // 4 + 1)


class LLMClient:
    """Facade: `complete(node, requests)` returns validated outputs in request order."""

    def __init__(
        self,
        config: RunConfig,
        tables: Tables,
        *,
        logger: logging.Logger | None = None,
        providers: dict[str, Provider] | None = None,
    ) -> None:
        self.config = config
        self.ledger = Ledger()
        self._log = logger or logging.getLogger("ticket_assets.llm")
        self._providers: dict[str, Provider] = {"offline": OfflineAdapter(tables, config.seed)}
        self._providers.update(providers or {})

    def provider_for(self, model: ModelConfig) -> Provider:
        provider = self._providers.get(model.provider)
        if provider is None:
            from ticket_assets.llm.remote import LiteLLMProvider

            provider = self._providers[model.provider] = LiteLLMProvider()
        return provider

    def complete(self, node: str, requests: Sequence[LLMRequest]) -> list[BaseModel]:
        model = self.config.model_for(node)
        provider = self.provider_for(model)
        outputs: list[BaseModel] = []
        failures: list[str] = []
        for request in requests:
            try:
                outputs.append(self._complete_one(request, model, provider))
            except LLMOutputError as error:
                failures.append(str(error))
        if failures:
            shown = "; ".join(failures[:5])
            more = f" (+{len(failures) - 5} more)" if len(failures) > 5 else ""
            raise LLMOutputError(
                f"node {node}: {len(failures)} of {len(requests)} answers failed validation "
                f"with {model.model}: {shown}{more}"
            )
        return outputs

    def _complete_one(
        self, request: LLMRequest, model: ModelConfig, provider: Provider
    ) -> BaseModel:
        repair: str | None = None
        for attempt in range(1, MAX_REPAIRS + 2):
            started = time.perf_counter()
            answer = provider.complete(request, model, repair)
            self._account(request, model, answer, time.perf_counter() - started, attempt)
            try:
                return request.output_model.model_validate(
                    answer.content, context=dict(request.validation_context)
                )
            except ValidationError as error:
                repair = _describe(error)
        raise LLMOutputError(f"ticket {request.key}: {repair}")

    def _account(
        self,
        request: LLMRequest,
        model: ModelConfig,
        answer: ProviderAnswer,
        latency: float,
        attempt: int,
    ) -> None:
        record = CallRecord(
            node=request.node,
            key=request.key,
            model=model.model,
            provider=model.provider,
            prompt_version=request.prompt_version,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cost_usd=answer.cost_usd,
            latency_s=latency,
            attempt=attempt,
        )
        self.ledger.add(record)
        limits = self.config.cost_limits
        if record.cost_usd > limits.error:
            raise CostLimitError(
                f"node {request.node}: one call for ticket {request.key} with {model.model} "
                f"cost ${record.cost_usd:.6f}, over cost_limits.error ${limits.error}"
            )
        if record.cost_usd > limits.warn:
            self._log.warning(
                "node %s: one call for ticket %s with %s cost $%.6f, over cost_limits.warn $%s",
                request.node,
                request.key,
                model.model,
                record.cost_usd,
                limits.warn,
            )


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"]) or "answer"
        parts.append(f"{location}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)

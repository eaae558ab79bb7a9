"""Local calls: a local provider (offline, test doubles) asked one ticket at a time, with the
validation error as the repair hint, up to `max_repairs` more times."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ticket_assets.llm.accounting import Accounts
from ticket_assets.llm.providers.local import LocalProvider
from ticket_assets.llm.types import CallRecord, LLMRequest, Rejection
from ticket_assets.llm.validation import validate_answer

if TYPE_CHECKING:
    from ticket_assets.config import ModelConfig


def complete_local(
    request: LLMRequest, model: ModelConfig, provider: LocalProvider, accounts: Accounts
) -> BaseModel | Rejection:
    repair: str | None = None
    for attempt in range(1, model.max_repairs + 2):
        started = time.perf_counter()
        answer = provider.complete(request, model, repair)
        accounts.account(
            CallRecord(
                node=request.node,
                key=request.key,
                model=model.model,
                provider=model.provider,
                prompt_version=request.prompt_version,
                input_tokens=answer.input_tokens,
                output_tokens=answer.output_tokens,
                cost_usd=answer.cost_usd,
                latency_s=time.perf_counter() - started,
                attempt=attempt,
                language=request.variables.get("language", ""),
                batch=request.variables.get("batch", ""),
            )
        )
        result = validate_answer(request, answer.content, check_language=False)
        if not isinstance(result, str):
            return result
        repair = result
    return Rejection(
        request.node,
        request.key,
        repair or "no answer",
        model.max_repairs + 1,
        model.model,
        request.variables.get("language", ""),
        request.variables.get("batch", ""),
    )

"""The one LLM facade nodes talk to.

`LLMClient.complete(node, requests)` returns one validated answer per request, in order, or
a `Rejection` for a ticket whose answer stayed invalid after its repairs (the client keeps
those in `rejections` too). Underneath, per node's model:
- `offline`: the deterministic local responders, one call per ticket;
- anything else: `RemoteEngine` (engine.py): grouping, cache, throttle, litellm, repairs.
The facade owns what is common: validation, the ledger, per-call cost limits, the budget.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from ticket_assets.config import ModelConfig, RunConfig
from ticket_assets.llm.budget import Budget
from ticket_assets.llm.ledger import Ledger
from ticket_assets.llm.offline import OfflineProvider
from ticket_assets.llm.types import CallRecord, CostLimitError, LLMRequest, Rejection
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
        self._responder = OfflineProvider(tables, seed)

    def complete(
        self, request: LLMRequest, model: ModelConfig, repair: str | None
    ) -> _OfflineAnswer:
        content = self._responder.respond(request.node, request.variables, request.output_model)
        prompt_chars = sum(len(m["content"]) for m in request.messages)
        output_chars = len(json.dumps(content, ensure_ascii=False))
        return _OfflineAnswer(content, prompt_chars // 4 + 1, output_chars // 4 + 1)


def describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"]) or "answer"
        parts.append(f"{location}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def validate_answer(request: LLMRequest, content: Any, *, check_language: bool) -> BaseModel | str:
    """The answer as the node's output model, or why it is not one."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except json.JSONDecodeError as error:
            return f"answer is not valid JSON ({error.msg} at position {error.pos})"
    context = {**request.validation_context, "check_language": check_language}
    try:
        return request.output_model.model_validate(content, context=context)
    except ValidationError as error:
        return describe(error)


class LLMClient:
    """Facade: `complete(node, requests)` returns validated outputs in request order.

    `run_id` names the Dagster run the calls are paid for in (the journal of paid calls
    records it, see journal.py)."""

    def __init__(
        self,
        config: RunConfig,
        tables: Tables,
        *,
        logger: logging.Logger | None = None,
        budget: Budget | None = None,
        use_cache: bool | None = None,
        local_providers: Mapping[str, LocalProvider] | None = None,
        run_id: str = "",
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.ledger = Ledger()
        self.rejections: list[Rejection] = []
        self.log = logger or logging.getLogger("ticket_assets.llm")
        self.budget = budget or Budget(config.budget_usd)
        self.use_cache = config.cache if use_cache is None else use_cache
        self._local: dict[str, LocalProvider] = {"offline": OfflineAdapter(tables, config.seed)}
        self._local.update(local_providers or {})

    def complete(self, node: str, requests: Sequence[LLMRequest]) -> list[BaseModel | Rejection]:
        model = self.config.model_for(node)
        if not requests:
            return []
        local = self._local.get(model.provider)
        if local is not None:
            outputs = [self._complete_local(request, model, local) for request in requests]
        else:
            from ticket_assets.llm.engine import RemoteEngine

            outputs = RemoteEngine(self, node, model).run(requests)
        self.rejections.extend(o for o in outputs if isinstance(o, Rejection))
        return outputs

    def _complete_local(
        self, request: LLMRequest, model: ModelConfig, provider: LocalProvider
    ) -> BaseModel | Rejection:
        repair: str | None = None
        for attempt in range(1, model.max_repairs + 2):
            started = time.perf_counter()
            answer = provider.complete(request, model, repair)
            self.account(
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

    def account(self, record: CallRecord) -> None:
        """Add a call to the ledger and apply the per-call cost limits."""
        self.ledger.add(record)
        limits = self.config.cost_limits
        if record.cost_usd > limits.error:
            raise CostLimitError(
                f"node {record.node}: one call (tickets {record.key}) with {record.model} "
                f"cost ${record.cost_usd:.6f}, over cost_limits.error ${limits.error}"
            )
        if record.cost_usd > limits.warn:
            self.log.warning(
                "node %s: one call (tickets %s) with %s cost $%.6f, over cost_limits.warn $%s",
                record.node,
                record.key,
                record.model,
                record.cost_usd,
                limits.warn,
            )
